package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

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
	data, err := io.ReadAll(body)
	if err != nil {
		if maxErr, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return payloadTooLarge(maxErr.Limit)
		}
		// The client went away or broke the stream mid-body.
		return invalidArgument("could not read request body")
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return syntaxError(err)
	}
	if rest := data[dec.InputOffset():]; len(trimJSONSpace(rest)) != 0 {
		return invalidArgument("request body must be a single JSON object: unexpected data after it")
	}
	if raw[0] != '{' {
		return invalidArgument("request body must be a JSON object")
	}

	fields, err := objectFields(raw)
	if err != nil {
		return invalidArgument("request body is not valid JSON")
	}
	allowed := jsonFieldNames(reflect.TypeOf(dst).Elem())
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if !allowed[f.key] {
			return invalidArgument(fmt.Sprintf("unknown field %q", f.key))
		}
		if seen[f.key] {
			return invalidArgument(fmt.Sprintf("duplicate field %q", f.key))
		}
		seen[f.key] = true
		if string(f.value) == "null" {
			// encoding/json would leave the field as if it were absent.
			return invalidArgument(fmt.Sprintf("%s must not be null: leave it out instead", f.key))
		}
	}

	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(dst); err != nil {
		if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return invalidArgument(typeErrorMessage(typeErr))
		}
		return invalidArgument("request body does not match the expected object")
	}
	return nil
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

// field is one member of a JSON object: its key and its raw value.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields returns the members of the JSON object obj in order,
// duplicates included (encoding/json would silently keep the last one).
func objectFields(obj []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // the opening '{'
		return nil, err
	}
	var fields []field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is %T", tok)
		}
		var value json.RawMessage // whatever its shape
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		fields = append(fields, field{key: key, value: value})
	}
	return fields, nil
}

// trimJSONSpace drops leading JSON whitespace (space, tab, CR, LF).
func trimJSONSpace(b []byte) []byte {
	return bytes.TrimLeft(b, " \t\r\n")
}

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
