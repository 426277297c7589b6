// Package connect operates Kafka Connect through its REST API: it renders the
// connector configs kept in this folder (placeholders ${VAR} and
// ${VAR:-default} filled from the caller's environment; the topics from
// service.Topics, see TopicVars; the slots from service.OrdersSlot and
// service.PaymentsSlot), applies them, and reports, restarts, pauses,
// resumes and deletes connectors, and keeps them running (Watch).
package connect

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"shop/service"
)

//go:embed *.json
var configs embed.FS

// Connector is a named connector config, ready for PUT /connectors/{name}/config.
type Connector struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

// Files returns the names of the connector config files kept in this folder.
func Files() []string {
	entries, _ := fs.ReadDir(configs, ".")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Bundled renders the embedded config file name with lookup.
func Bundled(name string, lookup func(string) (string, bool)) (Connector, error) {
	b, err := configs.ReadFile(name)
	if err != nil {
		return Connector{}, fmt.Errorf("connector config %s: %w", name, err)
	}
	return Render(b, lookup)
}

// TopicVars returns the values of the configs' topic placeholders,
// ${ORDERS_TOPIC} and ${PAYMENTS_TOPIC}, for t. The configs give these no
// default of their own: the topics are named once, in service.Topics, and
// whoever renders a config passes them (service.Defaults[service.Topics]()
// when the environment sets none).
func TopicVars(t service.Topics) map[string]string {
	return map[string]string{"ORDERS_TOPIC": t.Orders, "PAYMENTS_TOPIC": t.Payments}
}

// slotDefaults are the values of the configs' slot placeholders,
// ${ORDERS_SLOT} and ${PAYMENTS_SLOT}, when the caller's lookup has none:
// the services' own defaults, since each service's outbox purge checks the
// slot of its connector by that name.
var slotDefaults = map[string]string{
	"ORDERS_SLOT":   service.Defaults[service.OrdersSlot]().Name,
	"PAYMENTS_SLOT": service.Defaults[service.PaymentsSlot]().Name,
}

var placeholder = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)(:-([^}]*))?\}`)

// Render parses a connector config file, replacing ${VAR} and ${VAR:-default}
// with lookup(VAR), or the default when VAR is unset or empty (for the slot
// placeholders, the services' slot names). A ${VAR} with no value and no
// default is an error. Kafka Connect's own provider syntax (${env:NAME},
// ${file:...}) is lower case and left alone.
func Render(file []byte, lookup func(string) (string, bool)) (Connector, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(string(file), func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return jsonEscape(v)
		}
		if v, ok := slotDefaults[sub[1]]; ok {
			return jsonEscape(v)
		}
		if sub[2] != "" {
			return sub[3]
		}
		missing = append(missing, sub[1])
		return m
	})
	if len(missing) > 0 {
		return Connector{}, fmt.Errorf("connector config: no value for %s", strings.Join(missing, ", "))
	}
	var c Connector
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		return Connector{}, fmt.Errorf("connector config: %w", err)
	}
	if c.Name == "" || len(c.Config) == 0 {
		return Connector{}, fmt.Errorf("connector config: want {\"name\": ..., \"config\": {...}}")
	}
	return c, nil
}

// jsonEscape makes v safe inside a JSON string literal.
func jsonEscape(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}
