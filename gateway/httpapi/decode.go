package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxBodyBytes is the largest request body the gateway reads (64 KiB).
const MaxBodyBytes = 64 << 10

// decodeJSON reads the whole body (which must be limited by
// http.MaxBytesReader) and decodes it into dst, a pointer to a struct, with
// strict rules: the body is exactly one JSON object, keys match the
// struct's json tags exactly (no unknown, differently cased or repeated
// keys), no value is null (the document has no nullable field),
// values have the field's type (an int64 field takes only a JSON integer
// that fits: not 1.5, 1e3 or "1"), and nothing but whitespace follows.
//
// It returns an *apiError: 413 PAYLOAD_TOO_LARGE when the limit was hit,
// 400 INVALID_ARGUMENT with a message for the client otherwise.
func decodeJSON(body io.Reader, dst any) *apiError {
	data, e := readBody(body)
	if e != nil {
		return e
	}
	// One pass over the body for a valid body (json.Valid, then the members
	// by hand and json.Unmarshal), the decoder's messages for an invalid one.
	if !json.Valid(data) {
		return invalidJSON(data)
	}
	raw := bytes.Trim(data, jsonSpace)
	if raw[0] != '{' {
		return invalidArgument("request body must be a JSON object")
	}

	allowed := jsonFieldNamesOf(reflect.TypeOf(dst).Elem())
	// A linear search: a key is allowed before it is looked for, so seen
	// never holds more keys than dst has fields.
	var seenArr [8]string
	seen := seenArr[:0]
	if e := eachMember(raw, func(key string, value []byte) *apiError {
		if !allowed[key] {
			return invalidArgument(fmt.Sprintf("unknown field %q", key))
		}
		if slices.Contains(seen, key) {
			return invalidArgument(fmt.Sprintf("duplicate field %q", key))
		}
		seen = append(seen, key)
		if string(value) == "null" {
			// encoding/json would leave the field as if it were absent.
			return invalidArgument(fmt.Sprintf("%s must not be null: leave it out instead", key))
		}
		return nil
	}); e != nil {
		return e
	}

	// Every key is one of dst's, exactly: json.Unmarshal, which matches keys
	// without regard to case, meets no other.
	if err := json.Unmarshal(raw, dst); err != nil {
		if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return invalidArgument(typeErrorMessage(typeErr))
		}
		return invalidArgument("request body does not match the expected object")
	}
	return nil
}

// readBody reads the whole body: 413 PAYLOAD_TOO_LARGE when it is longer
// than http.MaxBytesReader allows, 400 when it breaks off.
func readBody(body io.Reader) ([]byte, *apiError) {
	data, err := io.ReadAll(body)
	if err != nil {
		if maxErr, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, payloadTooLarge(maxErr.Limit)
		}
		// The client went away or broke the stream mid-body.
		return nil, invalidArgument("could not read request body")
	}
	return data, nil
}

// invalidJSON explains why data, which json.Valid refused, is not one JSON
// value: a syntax error in the first value, or data after it.
func invalidJSON(data []byte) *apiError {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return syntaxError(err)
	}
	return invalidArgument("request body must be a single JSON object: unexpected data after it")
}

func payloadTooLarge(limit int64) *apiError {
	return &apiError{
		status:  http.StatusRequestEntityTooLarge,
		code:    CodePayloadTooLarge,
		message: fmt.Sprintf("request body must not exceed %d bytes", limit),
	}
}

func syntaxError(err error) *apiError {
	switch {
	case errors.Is(err, io.EOF):
		return invalidArgument("request body is empty: a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidArgument("request body is not valid JSON: unexpected end of input")
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return invalidArgument(fmt.Sprintf("request body is not valid JSON at byte %d: %s", se.Offset, se.Error()))
	}
	return invalidArgument("request body is not valid JSON")
}

// typeErrorMessage explains a value of the wrong JSON type, such as 1.5 or
// "1" for an integer field.
func typeErrorMessage(e *json.UnmarshalTypeError) string {
	field := e.Field
	if field == "" {
		return "request body must be a JSON object"
	}
	got := e.Value
	switch e.Type.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if lit, ok := strings.CutPrefix(got, "number "); ok {
			if strings.ContainsAny(lit, ".eE") {
				return fmt.Sprintf("%s must be an integer (no fraction or exponent), got %s", field, lit)
			}
			return fmt.Sprintf("%s is out of range for a 64-bit integer: %s", field, lit)
		}
		return fmt.Sprintf("%s must be a JSON integer, got %s", field, got)
	case reflect.String:
		return fmt.Sprintf("%s must be a JSON string, got %s", field, strings.TrimSuffix(got, " "))
	}
	return fmt.Sprintf("%s has the wrong type: got %s", field, got)
}

// fieldNames caches jsonFieldNames by type.
var fieldNames sync.Map // reflect.Type -> map[string]bool

// jsonFieldNamesOf is jsonFieldNames(t), computed once per type.
func jsonFieldNamesOf(t reflect.Type) map[string]bool {
	if names, ok := fieldNames.Load(t); ok {
		return names.(map[string]bool)
	}
	names, _ := fieldNames.LoadOrStore(t, jsonFieldNames(t))
	return names.(map[string]bool)
}

// jsonFieldNames returns the JSON keys of struct type t: the name in each
// exported field's json tag, or the field name when the tag gives none.
func jsonFieldNames(t reflect.Type) map[string]bool {
	names := make(map[string]bool, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// eachMember calls f with the key and the raw value of each member of the
// JSON object obj, in order, duplicates included (encoding/json would
// silently keep the last one), until f returns an error. obj must be valid
// JSON (json.Valid) without surrounding space.
func eachMember(obj []byte, f func(key string, value []byte) *apiError) *apiError {
	i := skipJSONSpace(obj, 1) // past the '{'
	if obj[i] == '}' {
		return nil
	}
	for {
		end := jsonStringEnd(obj, i)
		key, err := jsonKey(obj[i:end])
		if err != nil {
			return invalidArgument("request body is not valid JSON")
		}
		i = skipJSONSpace(obj, skipJSONSpace(obj, end)+1) // past the ':'
		end = jsonValueEnd(obj, i)
		if e := f(key, obj[i:end]); e != nil {
			return e
		}
		i = skipJSONSpace(obj, end)
		if obj[i] == '}' {
			return nil
		}
		i = skipJSONSpace(obj, i+1) // past the ','
	}
}

// jsonKey is the string that the JSON string literal lit stands for, as
// encoding/json reads it (escapes resolved, invalid UTF-8 replaced).
func jsonKey(lit []byte) (string, error) {
	if bytes.IndexByte(lit, '\\') < 0 && utf8.Valid(lit) {
		return string(lit[1 : len(lit)-1]), nil
	}
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err
}

// skipJSONSpace returns the index of the first byte of b at or after i that
// is not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && strings.IndexByte(jsonSpace, b[i]) >= 0 {
		i++
	}
	return i
}

// jsonStringEnd returns the index just past the string literal that starts
// at b[i] (a '"') in valid JSON.
func jsonStringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// jsonValueEnd returns the index just past the value that starts at b[i] in
// valid JSON.
func jsonValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return jsonStringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = jsonStringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && strings.IndexByte(",}]"+jsonSpace, b[i]) < 0 { // a number, true, false
		i++
	}
	return i
}

// jsonSpace is JSON's whitespace: space, tab, CR and LF.
const jsonSpace = " \t\r\n"

// singleQuery returns the query parameter name, "" when absent, or an
// error when it is given more than once.
func singleQuery(r *http.Request, name string) (string, error) {
	vals := r.URL.Query()[name]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("%s must be given at most once", name)
}

// timeFromProto returns ts as a UTC time.
func timeFromProto(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, fmt.Errorf("missing timestamp")
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, err
	}
	return ts.AsTime().UTC(), nil
}
