package db

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// List is a []string kept in one TEXT column as a JSON array: the same in
// both databases, and small lists are read whole anyway. It reads and
// writes nil as the empty list.
type List []string

// Value implements driver.Valuer.
func (l List) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *List) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*l = List{}
		return nil
	default:
		return fmt.Errorf("db: list column holds %T", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("db: list column: %w", err)
	}
	if out == nil {
		out = []string{}
	}
	*l = out
	return nil
}
