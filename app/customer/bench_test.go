package customer

import "testing"

// BenchmarkMap maps one client object the size of a real delivery's data
// (client-updated.json): the mapping alone, without the receiver or store.
//
//	go test -run '^$' -bench BenchmarkMap ./app/customer/
func BenchmarkMap(b *testing.B) {
	data := envelopeData(b, "client-updated.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Map(data, Mapping{}); err != nil {
			b.Fatal(err)
		}
	}
}
