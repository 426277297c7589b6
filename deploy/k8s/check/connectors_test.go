package check

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"shop/connect"
)

// checkConnectors checks the KafkaConnectors against connect/*.json: one
// per file, with the file's name, class, tasks and config (rendered for
// Kubernetes, plus ConnectorOverrides), no option Strimzi reserves in
// spec.config, the database password a config-provider reference, the
// connector on a KafkaConnect that takes connector resources, its database
// a CNPG cluster's read-write service and its topic a KafkaTopic.
func checkConnectors(root string, objs []Object) []error {
	var errs []error
	files := connect.Files()
	connectors := OfKind(objs, "KafkaConnector")
	if len(connectors) != len(files) {
		errs = append(errs, fmt.Errorf("%d KafkaConnectors for %d connect/*.json files", len(connectors), len(files)))
	}
	for _, file := range files {
		want, err := RenderConnector(root, file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		kc := Find(objs, "KafkaConnector", want.Name)
		if kc == nil {
			errs = append(errs, fmt.Errorf("connect/%s: no KafkaConnector %s", file, want.Name))
			continue
		}
		where := "KafkaConnector " + want.Name
		got := map[string]string{}
		cfg, _ := Get(kc, "spec", "config").(map[string]any)
		for k, v := range cfg {
			if slices.Contains(ReservedConnectorKeys, k) {
				errs = append(errs, fmt.Errorf("%s: spec.config sets %s, which Strimzi reserves", where, k))
			}
			got[k] = fmt.Sprint(v)
		}
		got["name"] = kc.Name()
		got["connector.class"], _ = Get(kc, "spec", "class").(string)
		if n, ok := AsInt(Get(kc, "spec", "tasksMax")); ok {
			got["tasks.max"] = strconv.Itoa(n)
		}
		wantCfg := map[string]string{"name": want.Name}
		for k, v := range want.Config {
			wantCfg[k] = v
		}
		for _, k := range union(got, wantCfg) {
			if got[k] != wantCfg[k] {
				errs = append(errs, fmt.Errorf("%s: %s is %q, connect/%s says %q", where, k, got[k], file, wantCfg[k]))
			}
		}
		if pw := got["database.password"]; !strings.HasPrefix(pw, "${dir:") {
			errs = append(errs, fmt.Errorf("%s: database.password is not a config provider reference", where))
		}
		cluster, _ := Get(kc, "metadata", "labels", "strimzi.io/cluster").(string)
		if kcn := Find(objs, "KafkaConnect", cluster); kcn == nil {
			errs = append(errs, fmt.Errorf("%s: no KafkaConnect %q", where, cluster))
		} else if Get(kcn, "metadata", "annotations", "strimzi.io/use-connector-resources") != "true" {
			errs = append(errs, fmt.Errorf("%s: KafkaConnect %s does not take connector resources", where, cluster))
		}
		host, _ := strings.CutSuffix(got["database.hostname"], "-rw")
		if Find(objs, "Cluster", host) == nil {
			errs = append(errs, fmt.Errorf("%s: database.hostname %s is no CNPG cluster's -rw service", where, got["database.hostname"]))
		}
		if topicPartitions(objs)[got["transforms.outbox.route.topic.replacement"]] == 0 {
			errs = append(errs, fmt.Errorf("%s: topic %s is no KafkaTopic", where, got["transforms.outbox.route.topic.replacement"]))
		}
	}
	return errs
}

func union(a, b map[string]string) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// topicPartitions returns the partitions of each KafkaTopic among objs, by
// topic name.
func topicPartitions(objs []Object) map[string]int {
	out := map[string]int{}
	for _, t := range OfKind(objs, "KafkaTopic") {
		name, _ := Get(t, "spec", "topicName").(string)
		if name == "" {
			name = t.Name()
		}
		out[name], _ = AsInt(Get(t, "spec", "partitions"))
	}
	return out
}

// TestConnectorsAreConnectFiles checks every overlay's KafkaConnectors
// (checkConnectors).
func TestConnectorsAreConnectFiles(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, objs []Object) []error { return checkConnectors(root(t), objs) })
}
