package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// marshalCustomer encodes a customer as uvarint(history head) +
// uvarint(len(fields)) + fields JSON + raw bytes. Keeping raw outside the JSON spares re-validating and
// compacting it on every write and decoding it on every read of the old
// version during ingestion.
func marshalCustomer(c *Customer) ([]byte, error) {
	raw := c.Raw
	cp := *c
	cp.Raw = nil
	fields, err := json.Marshal(&cp)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 2*binary.MaxVarintLen64+len(fields)+len(raw))
	buf = binary.AppendUvarint(buf, c.historyHead)
	buf = binary.AppendUvarint(buf, uint64(len(fields)))
	buf = append(buf, fields...)
	return append(buf, raw...), nil
}

// unmarshalCustomer decodes marshalCustomer's output into c; with withRaw
// false, c.Raw stays nil. It copies, so v may be bbolt memory.
func unmarshalCustomer(v []byte, c *Customer, withRaw bool) error {
	head, hw := binary.Uvarint(v)
	if hw <= 0 {
		return errors.New("corrupt customer record")
	}
	v = v[hw:]
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return errors.New("corrupt customer record")
	}
	if err := json.Unmarshal(v[w:w+int(n)], c); err != nil {
		return err
	}
	c.Raw, c.historyHead = nil, head
	if rest := v[w+int(n):]; withRaw && len(rest) > 0 {
		c.Raw = append(json.RawMessage(nil), rest...)
	}
	return nil
}

// historyRecord is a stored history entry: the entry plus the sequence of
// the same customer's previous entry, so a customer's history is a chain
// walked from Customer.historyHead without a random-key index to write.
type historyRecord struct {
	HistoryEntry
	Prev uint64 `json:"prev,omitempty"`
}
