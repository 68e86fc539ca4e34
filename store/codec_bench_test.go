package store

import (
	"testing"
	"time"
)

// BenchmarkCustomerRecord measures what the writer does with a stored
// customer on every delivery: decode the old record, encode the new one.
//
//	go test -run '^$' -bench BenchmarkCustomerRecord -benchmem ./store/
//
// sampleCustomer is a typical customer record, raw included.
func sampleCustomer() (*Customer, error) {
	s := func(v string) *string { return &v }
	now := time.Now().UTC()
	return &Customer{ID: "123", Name: "Customer 123", Email: s("c123@example.com"), Phone: s("+32471123456"), VATNumber: s("BE0437311123"),
		Address: Address{Line1: s("Street 1"), PostalCode: s("2000"), City: s("Antwerpen"), Country: s("Belgium"), CountryCode: s("BE")},
		Role:    s("ROLE 3"), PricingCode: s("TIER A"), Currency: "EUR", IsActive: true, Version: now, CreatedAt: now, UpdatedAt: now,
		LastEventID: "evt-0f8fad5b-d9cb-469f-a165-70867728950e", Source: SourceWebhook, historyHead: 1234,
		Raw: []byte(`{"id":"123","name":"Customer 123","email":"c123@example.com","tel":"0471 12 34 56","vatNumber":"BE0437.311.123","address":{"addressLine1":"Street 1","postalCode":"2000","city":"Antwerpen","country":"Belgium"},"extraFields":{"Role":{"stringValue":"ROLE 3"},"PRICING":{"stringValue":"TIER A"}},"updatedAt":"2026-12-01T10:00:00.123456Z"}`)}, nil
}

func BenchmarkCustomerRecord(b *testing.B) {
	c, err := sampleCustomer()
	if err != nil {
		b.Fatal(err)
	}
	v, err := marshalCustomer(c)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var got Customer
			if err := unmarshalCustomer(v, &got, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := marshalCustomer(c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
