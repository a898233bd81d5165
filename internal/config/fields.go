package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// field is one leaf key of Config, found by walking the struct tags.
type field struct {
	Key      string // dotted, "pop3.idle_timeout"
	Table    string // "pop3"; "" for top-level keys
	TableDoc string
	Doc      string
	Reserved bool // a service not implemented yet: must stay empty
	index    []int
}

// fields lists every key in struct order. Walking the type each time is
// cheap and keeps no package-level state.
func fields() []field {
	var out []field
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		if sf.Type.Kind() == reflect.Struct && !isText(sf.Type) {
			for j := range sf.Type.NumField() {
				sub := sf.Type.Field(j)
				out = append(out, field{
					Key:      name + "." + sub.Tag.Get("toml"),
					Table:    name,
					TableDoc: sf.Tag.Get("doc"),
					Doc:      sub.Tag.Get("doc"),
					Reserved: sf.Tag.Get("reserved") == "true",
					index:    []int{i, j},
				})
			}
			continue
		}
		out = append(out, field{Key: name, Doc: sf.Tag.Get("doc"), index: []int{i}})
	}
	return out
}

// Keys returns every configuration key, dotted, in declaration order.
func Keys() []string {
	var keys []string
	for _, f := range fields() {
		keys = append(keys, f.Key)
	}
	return keys
}

func lookup(key string) (field, bool) {
	for _, f := range fields() {
		if f.Key == key {
			return f, true
		}
	}
	return field{}, false
}

func isText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// KeyError is a problem with one key; its message names the key.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return "config: " + e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

func keyErr(key string, format string, a ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, a...)}
}

// set assigns a decoded TOML value (string, int64, bool) to the key.
func (c *Config) set(key string, v any) error {
	f, ok := lookup(key)
	if !ok {
		return keyErr(key, "unknown key")
	}
	fv := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	if isText(fv.Type()) {
		var text string
		switch v := v.(type) {
		case string:
			text = v
		case int64: // `expire = 30`, `max_message_size = 1048576`
			text = strconv.FormatInt(v, 10)
		default:
			return keyErr(key, "want a string, got %T", v)
		}
		if err := fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			return &KeyError{Key: key, Err: err}
		}
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return keyErr(key, "want a string, got %v", v)
		}
		fv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return keyErr(key, "want true or false, got %v", v)
		}
		fv.SetBool(b)
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			return keyErr(key, "want an integer, got %v", v)
		}
		fv.SetInt(n)
	default:
		return keyErr(key, "unsupported field kind %s", fv.Kind()) // a programming error
	}
	return nil
}

// setString assigns a value given as text (a -o override), parsed by the
// key's type.
func (c *Config) setString(key, s string) error {
	f, ok := lookup(key)
	if !ok {
		return keyErr(key, "unknown key")
	}
	t := reflect.TypeFor[Config]().FieldByIndex(f.index).Type
	if isText(t) {
		return c.set(key, s)
	}
	switch t.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return keyErr(key, "want true or false, got %q", s)
		}
		return c.set(key, b)
	case reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return keyErr(key, "want an integer, got %q", s)
		}
		return c.set(key, n)
	}
	return c.set(key, s)
}

// Get returns the key's value as text, as -o would accept it.
func (c *Config) Get(key string) (string, error) {
	f, ok := lookup(key)
	if !ok {
		return "", keyErr(key, "unknown key")
	}
	fv := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	if m, ok := fv.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		return string(b), err
	}
	return fmt.Sprint(fv.Interface()), nil
}
