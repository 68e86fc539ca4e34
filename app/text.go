package app

import (
	"encoding/json"

	"github.com/robaws-edge/robaws-edge/app/customer"
)

// optional returns nil for "", so that the field reads as JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// scalarText reads a Robaws id or message, a JSON string or number, as
// customer.Text does.
func scalarText(raw json.RawMessage) string { return customer.Text(raw) }
