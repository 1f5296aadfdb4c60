package api

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"

	"github.com/kefu-dev/kefu"
)

// jsonError says in the API's words why a JSON body (or the part of it
// named by where, e.g. "settings") is not the shape wanted: the field as
// the JSON names it and the JSON type it needs, or where the text stops
// being JSON; never encoding/json's words, which name Go types.
func jsonError(err error, where, shape string) error {
	var (
		ke *kefu.Error
		te *json.UnmarshalTypeError
		se *json.SyntaxError
	)
	in := "the body"
	if where != "" {
		in = where
	}
	switch {
	case errors.As(err, &ke) && ke.Code != kefu.EINTERNAL:
		return err
	case errors.As(err, &te):
		field := strings.Trim(te.Field, ".")
		switch {
		case field != "" && where != "":
			field = where + "." + field
		case field == "":
			field = in
		}
		return kefu.Errorf(kefu.EINVALID, "%s must be %s, not %s: send JSON %s", field, jsonKind(te.Type), jsonValue(te.Value), shape)
	case errors.As(err, &se):
		return kefu.Errorf(kefu.EINVALID, "%s is not valid JSON (at byte %d): send JSON %s", in, se.Offset, shape)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return kefu.Errorf(kefu.EINVALID, "%s is not valid JSON: it ends before the value does; send JSON %s", in, shape)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return kefu.Errorf(kefu.EINVALID, "%s: unknown field %s", in, name)
	}
	return kefu.Errorf(kefu.EINVALID, "%s is not JSON %s", in, shape)
}

// jsonKind names the JSON value a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another JSON value"
}

// jsonValue names the JSON value encoding/json found ("number", "string",
// "array", "object", "bool", or "number 1.5" for a number out of range).
func jsonValue(v string) string {
	switch {
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number "):
		return "the number " + strings.TrimPrefix(v, "number ")
	case v == "array" || v == "object":
		return "an " + v
	}
	return "a " + v
}
