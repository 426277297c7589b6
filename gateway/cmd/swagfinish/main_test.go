package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// doc is a Swagger document with one operation: POST /a taking a body of
// definition Req, answering 201 and 400, plus whatever extra holds.
func doc(op, extra string) string {
	return `{"swagger": "2.0", "paths": {"/a": {"post": {` + op + `}}, "/b/{id}": {"get": {"operationId": "getB", "responses": {"200": {}}}}},
		"definitions": {"Req": {"type": "object", "properties": {"n": {"type": "integer", "maximum": 1000000000000000}}}` + extra + `}}`
}

const bodyParam = `"parameters": [{"in": "body", "name": "body", "schema": {"$ref": "#/definitions/Req"}}], "responses": {"201": {}, "400": {}}`

func TestFinish(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // JSON the output must equal
		wantErr string // substring of the error
	}{
		{
			name: "OK",
			in: doc(`"operationId": "postA", `+bodyParam+`, "x-response-links": {"201": {"GetB": {"operationId": "getB", "parameters": {"id": "$response.body#/id"}}}}`,
				`, "S": {"type": "string", "x-pattern": "^[a-z]*$"}`),
			want: `{"swagger": "2.0", "paths": {
				"/a": {"post": {"operationId": "postA",
					"parameters": [{"in": "body", "name": "body", "schema": {"$ref": "#/definitions/Req"}}],
					"responses": {"201": {"x-links": {"GetB": {"operationId": "getB", "parameters": {"id": "$response.body#/id"}}}}, "400": {}}}},
				"/b/{id}": {"get": {"operationId": "getB", "responses": {"200": {}}}}},
				"definitions": {
					"Req": {"type": "object", "additionalProperties": false, "properties": {"n": {"type": "integer", "maximum": 1000000000000000}}},
					"S": {"type": "string", "pattern": "^[a-z]*$"}}}`,
		},
		{
			name:    "ErrLinkToUndocumentedStatus",
			in:      doc(bodyParam+`, "x-response-links": {"200": {"GetB": {"operationId": "getB"}}}`, ""),
			wantErr: "undocumented status 200",
		},
		{
			name:    "ErrLinkToUnknownOperation",
			in:      doc(bodyParam+`, "x-response-links": {"201": {"X": {"operationId": "nope"}}}`, ""),
			wantErr: `unknown operationId "nope"`,
		},
		{
			name:    "ErrInlineBody",
			in:      doc(`"parameters": [{"in": "body", "name": "body", "schema": {"type": "object"}}], "responses": {"201": {}}`, ""),
			wantErr: "not a reference to a definition",
		},
		{
			name:    "ErrMalformed",
			in:      `{"swagger": `,
			wantErr: "unexpected EOF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := finish([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !strings.Contains(string(out), "1000000000000000") {
				t.Errorf("numbers must keep their written form:\n%s", out)
			}
			again, err := finish(out)
			if err != nil || string(again) != string(out) {
				t.Errorf("a second run changed the output (err %v):\n%s", err, again)
			}
		})
	}
}
