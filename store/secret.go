package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Secret is a webhook signing secret known to robaws-edge beyond the config
// file: one returned by a Robaws registration, or one added by hand. Value
// never leaves the process through the API or logs.
type Secret struct {
	ID        string    `json:"id"`
	Endpoint  string    `json:"endpoint"`
	WebhookID string    `json:"webhook_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Value     string    `json:"value"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt, when set, ends the secret's validity (grace period after a
	// registration was replaced).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// AddedBy says where the secret came from: AddedByRobaws (a
	// registration's answer) or AddedByHand (pasted by a person). ""
	// for secrets stored before robaws-edge recorded it.
	AddedBy string `json:"added_by,omitempty"`
}

// Where a stored secret came from (Secret.AddedBy).
const (
	AddedByRobaws = "robaws"
	AddedByHand   = "hand"
)

// Validate reports whether s can be stored.
func (s *Secret) Validate() error {
	switch {
	case s.Endpoint == "":
		return errors.New("endpoint required")
	case s.Value == "":
		return errors.New("secret required")
	}
	return nil
}

// Hint returns "…" and the secret's last four characters.
func (s *Secret) Hint() string {
	if len(s.Value) <= 4 {
		return "…"
	}
	return "…" + s.Value[len(s.Value)-4:]
}

// CreateSecret stores s, assigning its ID and CreatedAt. It commits before
// returning (a registered secret must be on disk before anything else).
// Returns ErrConflict when the same secret value is already active for the
// endpoint.
func (db *DB) CreateSecret(ctx context.Context, s *Secret) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var old Secret
			if err := unmarshalSecret(v, &old); err != nil {
				return err
			}
			if old.Active && old.Endpoint == s.Endpoint && old.Value == s.Value {
				return fmt.Errorf("secret already known for endpoint %s (id %s): %w", s.Endpoint, old.ID, ErrConflict)
			}
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		s.ID = strconv.FormatUint(seq, 10)
		s.Active = true
		s.CreatedAt = db.Now().UTC()
		return putSecret(b, s)
	})
}

// UpdateSecret replaces the stored secret with the same ID. Returns
// ErrNotFound if it does not exist.
func (db *DB) UpdateSecret(ctx context.Context, s *Secret) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if b.Get([]byte(s.ID)) == nil {
			return ErrNotFound
		}
		return putSecret(b, s)
	})
}

// DeleteSecret removes secret id for good (send-test's temporary secret).
// Returns ErrNotFound if it does not exist.
func (db *DB) DeleteSecret(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSecrets)
		if b.Get([]byte(id)) == nil {
			return ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// FindSecretByID returns the secret id. Returns ErrNotFound if it does not exist.
func (db *DB) FindSecretByID(ctx context.Context, id string) (*Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var s Secret
	err := db.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSecrets).Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		return unmarshalSecret(v, &s)
	})
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// FindSecrets returns every stored secret, oldest first.
func (db *DB) FindSecrets(ctx context.Context) ([]*Secret, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*Secret
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSecrets).ForEach(func(k, v []byte) error {
			var s Secret
			if err := unmarshalSecret(v, &s); err != nil {
				return fmt.Errorf("decode secret %s: %w", k, err)
			}
			out = append(out, &s)
			return nil
		})
	})
	// IDs are decimal sequence numbers; ForEach orders them as strings.
	sortSecrets(out)
	return out, err
}

func sortSecrets(list []*Secret) {
	num := func(s *Secret) uint64 { n, _ := strconv.ParseUint(s.ID, 10, 64); return n }
	slices.SortFunc(list, func(a, b *Secret) int { return cmp.Compare(num(a), num(b)) })
}

func putSecret(b *bolt.Bucket, s *Secret) error {
	data, err := marshalSecret(s)
	if err != nil {
		return err
	}
	return b.Put([]byte(s.ID), data)
}
