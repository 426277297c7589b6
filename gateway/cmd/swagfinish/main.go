// Command swagfinish completes the OpenAPI document that swag writes from the
// gateway's annotations with what swag v1.16 cannot express, so that the
// document states every rule the gateway enforces:
//
//   - a pattern: swag has no pattern attribute, so an annotation carries it
//     as the extension x-pattern (extensions(x-pattern=...) on a @Param,
//     extensions:"x-pattern=..." on a field), which becomes pattern;
//   - closed request bodies: the gateway refuses unknown fields in every JSON
//     body (decode.go), so each definition used as a body parameter gets
//     additionalProperties: false;
//   - links between operations (what a client does next with a response,
//     such as GET /orders/{id} with the id of a created order): swag has no
//     response extensions, so an operation carries them as
//     @x-response-links {"<status>": {<name>: <link>}}, which become the
//     x-links of those responses (Swagger 2.0's form of OpenAPI 3 links).
//
// It rewrites the document in place (swagger.sh runs it after swag), with
// sorted keys and 4-space indentation; running it twice gives the same file.
//
// Usage: swagfinish docs/swagger.json
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: swagfinish <swagger.json>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "swagfinish:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	in, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := finish(in)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// finish returns the completed form of the Swagger 2.0 document doc.
func finish(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // keeps 1000000000000000 as written
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, err
	}
	promotePatterns(root)
	if err := closeBodies(root); err != nil {
		return nil, err
	}
	if err := placeLinks(root); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// promotePatterns renames every x-pattern key to pattern, anywhere in v.
func promotePatterns(v any) {
	switch v := v.(type) {
	case map[string]any:
		if p, ok := v["x-pattern"]; ok {
			delete(v, "x-pattern")
			v["pattern"] = p
		}
		for _, child := range v {
			promotePatterns(child)
		}
	case []any:
		for _, child := range v {
			promotePatterns(child)
		}
	}
}

// closeBodies sets additionalProperties: false on each definition that a
// body parameter refers to. A body schema that is not a reference to a
// definition is an error: the gateway's bodies are all named structs.
func closeBodies(root map[string]any) error {
	defs, _ := root["definitions"].(map[string]any)
	paths, _ := root["paths"].(map[string]any)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			params, _ := op.(map[string]any)["parameters"].([]any)
			for _, p := range params {
				param, _ := p.(map[string]any)
				if param["in"] != "body" {
					continue
				}
				schema, _ := param["schema"].(map[string]any)
				ref, _ := schema["$ref"].(string)
				name, ok := strings.CutPrefix(ref, "#/definitions/")
				if !ok {
					return fmt.Errorf("%s %s: body schema is not a reference to a definition", method, path)
				}
				def, ok := defs[name].(map[string]any)
				if !ok {
					return fmt.Errorf("%s %s: body definition %q is missing", method, path, name)
				}
				if def["type"] != "object" {
					return errors.New("body definition " + name + " is not an object")
				}
				def["additionalProperties"] = false
			}
		}
	}
	return nil
}

// placeLinks moves each operation's x-response-links, a map from status code
// to links, into the x-links of those responses. A link to an undocumented
// status or an operationId that no operation has is an error.
func placeLinks(root map[string]any) error {
	paths, _ := root["paths"].(map[string]any)
	ids := map[string]bool{}
	for _, item := range paths {
		for _, op := range item.(map[string]any) {
			if id, ok := op.(map[string]any)["operationId"].(string); ok {
				ids[id] = true
			}
		}
	}
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			op := op.(map[string]any)
			raw, ok := op["x-response-links"]
			if !ok {
				continue
			}
			delete(op, "x-response-links")
			byStatus, ok := raw.(map[string]any)
			if !ok {
				return fmt.Errorf("%s %s: x-response-links is not an object", method, path)
			}
			responses, _ := op["responses"].(map[string]any)
			for code, links := range byStatus {
				resp, ok := responses[code].(map[string]any)
				if !ok {
					return fmt.Errorf("%s %s: x-response-links for undocumented status %s", method, path, code)
				}
				named, ok := links.(map[string]any)
				if !ok {
					return fmt.Errorf("%s %s: links of %s are not an object", method, path, code)
				}
				for name, l := range named {
					link, _ := l.(map[string]any)
					if id, _ := link["operationId"].(string); !ids[id] {
						return fmt.Errorf("%s %s: link %s names unknown operationId %q", method, path, name, id)
					}
				}
				resp["x-links"] = named
			}
		}
	}
	return nil
}
