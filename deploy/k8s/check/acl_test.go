package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// aclCovers reports whether a KafkaUser ACL rule grants op on the resource
// of kind (topic, group) named name: the operation or All, on the name
// (literal, or a prefix of it, or *).
func aclCovers(rule any, kind, name, op string) bool {
	if t, _ := Get(rule, "type").(string); t == "deny" {
		return false
	}
	if Get(rule, "resource", "type") != kind {
		return false
	}
	rname, _ := Get(rule, "resource", "name").(string)
	switch Get(rule, "resource", "patternType") {
	case "prefix":
		if !strings.HasPrefix(name, rname) {
			return false
		}
	default:
		if rname != "*" && rname != name {
			return false
		}
	}
	ops, _ := Get(rule, "operations").([]any)
	return slices.Contains(ops, any(op)) || slices.Contains(ops, any("All"))
}

// granted reports whether the KafkaUser grants op on kind name.
func granted(user Object, kind, name, op string) bool {
	acls, _ := Get(user, "spec", "authorization", "acls").([]any)
	for _, r := range acls {
		if aclCovers(r, kind, name, op) {
			return true
		}
	}
	return false
}

// writer is the only principal that may write the event topics.
const writer = "connect"

// checkACLs checks the KafkaUsers against what the shop does: only Kafka
// Connect writes (or creates, or alters) an event topic; a consumer's
// principal (its KAFKA_SASL_USERNAME) reads the topic it consumes in its
// group, and no other event topic; no principal reads an event topic
// without consuming it.
func checkACLs(t *testing.T, objs []Object) []error {
	var errs []error
	topics := topicPartitions(objs)
	names := sortedKeys(topics)
	// reads: principal -> the topic and group it consumes.
	type consumer struct{ topic, group string }
	reads := map[string]consumer{}
	for _, dep := range OfKind(objs, "Deployment") {
		containers, _ := Get(dep, "spec", "template", "spec", "containers").([]any)
		if len(containers) == 0 {
			continue
		}
		env, err := containerEnv(objs, containers[0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		group, topic, err := consumes(t, dep.Name(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			continue // no consumer
		}
		user := env["KAFKA_SASL_USERNAME"]
		if user == "" {
			errs = append(errs, fmt.Errorf("Deployment %s consumes %s without a Kafka principal", dep.Name(), topic))
			continue
		}
		reads[user] = consumer{topic, group}
		u := Find(objs, "KafkaUser", user)
		if u == nil {
			errs = append(errs, fmt.Errorf("Deployment %s logs in as %s: no such KafkaUser", dep.Name(), user))
			continue
		}
		for _, need := range [][2]string{{"topic", topic}, {"group", group}} {
			if !granted(u, need[0], need[1], "Read") {
				errs = append(errs, fmt.Errorf("KafkaUser %s may not read %s %s, which Deployment %s consumes", user, need[0], need[1], dep.Name()))
			}
		}
	}
	for _, u := range OfKind(objs, "KafkaUser") {
		for _, topic := range names {
			for _, op := range []string{"Write", "Create", "Alter", "Delete"} {
				if u.Name() != writer && granted(u, "topic", topic, op) {
					errs = append(errs, fmt.Errorf("KafkaUser %s may %s topic %s: only %s writes the event topics", u.Name(), op, topic, writer))
				}
			}
			if granted(u, "topic", topic, "Read") && reads[u.Name()].topic != topic {
				errs = append(errs, fmt.Errorf("KafkaUser %s may read topic %s, which it does not consume", u.Name(), topic))
			}
		}
	}
	return errs
}

// TestKafkaACLs checks every overlay's KafkaUsers (checkACLs).
func TestKafkaACLs(t *testing.T) {
	forEachOverlay(t, checkACLs)
}
