package app

// optional returns nil for "", so that the field reads as JSON null.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
