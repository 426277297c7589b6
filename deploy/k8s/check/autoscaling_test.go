package check

import (
	"fmt"
	"slices"
	"testing"
)

// kafkaScalerMetadata are the trigger metadata keys KEDA's Kafka scaler
// reads (the keda tags of kafkaMetadata with order=triggerMetadata in
// KEDA's pkg/scalers/kafka_scaler.go, v2.21), with the values it accepts
// where it accepts only some (nil: any value). A key it does not know is
// ignored by KEDA and by every schema: a typo there silently drops a
// setting.
var kafkaScalerMetadata = map[string][]string{
	"bootstrapServers": nil, "bootstrapServersFromEnv": nil,
	"consumerGroup": nil, "consumerGroupFromEnv": nil,
	"topic": nil, "topicFromEnv": nil,
	"partitionLimitation": nil,
	"lagThreshold":        nil, "activationLagThreshold": nil,
	"offsetResetPolicy":                  {"latest", "earliest"},
	"allowIdleConsumers":                 {"true", "false"},
	"excludePersistentLag":               {"true", "false"},
	"scaleToZeroOnInvalidOffset":         {"true", "false"},
	"limitToPartitionsWithLag":           {"true", "false"},
	"ensureEvenDistributionOfPartitions": {"true", "false"},
	"fullMetadata":                       {"true", "false"},
	"version":                            nil,
	"tls":                                {"enable", "disable"},
	"unsafeSsl":                          {"true", "false"},
	"sasl":                               {"none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer", "gssapi"},
	"saslTokenProvider":                  {"bearer", "aws_msk_iam"},
	"awsRegion":                          nil,
}

// kafkaScalerAuthParams are the parameters the Kafka scaler takes from a
// TriggerAuthentication (order=authParams in the same file).
var kafkaScalerAuthParams = []string{
	"tls", "ca", "cert", "key", "keyPassword", "sasl", "username", "password",
	"saslTokenProvider", "scopes", "oauthTokenEndpointUri", "oauthExtensions",
	"keytab", "realm", "kerberosConfig", "kerberosServiceName", "kerberosDisableFAST",
}

// checkScaledObjects checks every ScaledObject's Kafka triggers: the
// metadata keys and values are ones the scaler knows, the topic is a
// KafkaTopic with at least maxReplicaCount partitions (KEDA's default, 100,
// when unset), the group and topic are the ones the scaled Deployment
// consumes, and the TriggerAuthentication gives only parameters the scaler
// takes, from a container and variable the Deployment has.
func checkScaledObjects(t *testing.T, objs []Object) []error {
	var errs []error
	partitions := topicPartitions(objs)
	scaled := OfKind(objs, "ScaledObject")
	if len(scaled) == 0 {
		return []error{fmt.Errorf("no ScaledObject rendered")}
	}
	for _, so := range scaled {
		where := "ScaledObject " + so.Name()
		max, ok := AsInt(Get(so, "spec", "maxReplicaCount"))
		if !ok {
			max = 100
		}
		target, _ := Get(so, "spec", "scaleTargetRef", "name").(string)
		dep := Find(objs, "Deployment", target)
		if dep == nil {
			errs = append(errs, fmt.Errorf("%s: no Deployment %s to scale", where, target))
			continue
		}
		triggers, _ := Get(so, "spec", "triggers").([]any)
		for i, tr := range triggers {
			if Get(tr, "type") != "kafka" {
				continue
			}
			md, _ := Get(tr, "metadata").(map[string]any)
			for _, k := range sortedKeys(md) {
				allowed, known := kafkaScalerMetadata[k]
				switch {
				case !known:
					errs = append(errs, fmt.Errorf("%s: trigger %d: metadata key %q is not one KEDA's Kafka scaler reads", where, i, k))
				case allowed != nil && !slices.Contains(allowed, fmt.Sprint(md[k])):
					errs = append(errs, fmt.Errorf("%s: trigger %d: %s=%v, the scaler accepts %v", where, i, k, md[k], allowed))
				}
			}
			topic, _ := md["topic"].(string)
			if p := partitions[topic]; p == 0 {
				errs = append(errs, fmt.Errorf("%s: topic %q is no KafkaTopic", where, topic))
			} else if max > p {
				errs = append(errs, fmt.Errorf("%s: maxReplicaCount %d exceeds topic %s's %d partitions", where, max, topic, p))
			}
			group, consumes, err := consumerOf(t, objs, dep)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			} else if md["consumerGroup"] != group || topic != consumes {
				errs = append(errs, fmt.Errorf("%s: scales on group %v topic %s, Deployment %s consumes %s with group %s",
					where, md["consumerGroup"], topic, target, consumes, group))
			}
			if ref, _ := Get(tr, "authenticationRef", "name").(string); ref != "" {
				errs = append(errs, checkTriggerAuth(objs, ref, dep)...)
			}
		}
	}
	return errs
}

// consumerOf returns the consumer group and topic of the Deployment's
// consumer, from the configuration its binary reads out of its environment.
func consumerOf(t *testing.T, objs []Object, dep Object) (group, topic string, err error) {
	containers, _ := Get(dep, "spec", "template", "spec", "containers").([]any)
	if len(containers) == 0 {
		return "", "", fmt.Errorf("Deployment %s has no container", dep.Name())
	}
	env, err := containerEnv(objs, containers[0])
	if err != nil {
		return "", "", err
	}
	return consumes(t, dep.Name(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

// checkTriggerAuth checks a TriggerAuthentication of the Kafka scaler.
func checkTriggerAuth(objs []Object, name string, dep Object) []error {
	ta := Find(objs, "TriggerAuthentication", name)
	if ta == nil {
		return []error{fmt.Errorf("no TriggerAuthentication %s", name)}
	}
	var errs []error
	where := "TriggerAuthentication " + name
	for _, source := range []string{"secretTargetRef", "env", "configMapTargetRef"} {
		refs, _ := Get(ta, "spec", source).([]any)
		for _, r := range refs {
			p, _ := Get(r, "parameter").(string)
			if !slices.Contains(kafkaScalerAuthParams, p) {
				errs = append(errs, fmt.Errorf("%s: parameter %q is not one the Kafka scaler takes", where, p))
			}
			if source != "env" {
				continue
			}
			cname, _ := Get(r, "containerName").(string)
			found := false
			containers, _ := Get(dep, "spec", "template", "spec", "containers").([]any)
			for _, c := range containers {
				if Get(c, "name") != cname {
					continue
				}
				env, err := containerEnv(objs, c)
				if err != nil {
					return append(errs, err)
				}
				_, found = env[Get(r, "name").(string)]
			}
			if !found {
				errs = append(errs, fmt.Errorf("%s: %s: container %q of %s sets no %v", where, p, cname, dep.Name(), Get(r, "name")))
			}
		}
	}
	return errs
}

// TestScaledObjects checks every overlay's ScaledObjects
// (checkScaledObjects).
func TestScaledObjects(t *testing.T) {
	forEachOverlay(t, checkScaledObjects)
}
