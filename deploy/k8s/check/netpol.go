package check

import (
	"fmt"
	"strconv"
)

// Pod is a pod as network policies see it: its namespace, its labels and
// its namespace's labels, and its named container ports.
type Pod struct {
	Namespace string
	Labels    map[string]string
	Ports     map[string]int // container port name -> number
}

// nsLabels are the labels Kubernetes gives every namespace.
func (p Pod) nsLabels() map[string]string {
	return map[string]string{"kubernetes.io/metadata.name": p.Namespace}
}

// Allowed reports whether the NetworkPolicies among objs admit a TCP
// connection from src to port on dst, by the rules of the
// networking.k8s.io/v1 API: a pod no Ingress policy selects takes any
// connection; a selected pod takes what one of the selecting policies'
// rules admits. Egress is not restricted by these manifests and not
// modelled; an ipBlock peer matches no pod. It returns an error for a
// selector it cannot read.
func Allowed(objs []Object, src, dst Pod, port int) (bool, error) {
	isolated := false
	for _, np := range OfKind(objs, "NetworkPolicy") {
		ns, _ := Get(np, "metadata", "namespace").(string)
		if ns != dst.Namespace || !hasIngress(np) {
			continue
		}
		sel, err := matches(Get(np, "spec", "podSelector"), dst.Labels)
		if err != nil {
			return false, fmt.Errorf("NetworkPolicy %s: podSelector: %w", np.Name(), err)
		}
		if !sel {
			continue
		}
		isolated = true
		rules, _ := Get(np, "spec", "ingress").([]any)
		for i, rule := range rules {
			ok, err := ruleAdmits(rule, ns, src, dst, port)
			if err != nil {
				return false, fmt.Errorf("NetworkPolicy %s: ingress[%d]: %w", np.Name(), i, err)
			}
			if ok {
				return true, nil
			}
		}
	}
	return !isolated, nil
}

// hasIngress reports whether the policy restricts ingress: policyTypes
// names Ingress, or (without policyTypes) always.
func hasIngress(np Object) bool {
	types, ok := Get(np, "spec", "policyTypes").([]any)
	if !ok {
		return true
	}
	for _, t := range types {
		if t == "Ingress" {
			return true
		}
	}
	return false
}

func ruleAdmits(rule any, policyNS string, src, dst Pod, port int) (bool, error) {
	if ports, ok := Get(rule, "ports").([]any); ok && len(ports) > 0 {
		hit := false
		for _, p := range ports {
			if proto, _ := Get(p, "protocol").(string); proto != "" && proto != "TCP" {
				continue
			}
			if n, ok := AsInt(Get(p, "port")); ok {
				hit = hit || n == port
				continue
			}
			switch v := Get(p, "port").(type) {
			case nil:
				hit = true
			case string:
				if n, err := strconv.Atoi(v); err == nil {
					hit = hit || n == port
				} else {
					hit = hit || dst.Ports[v] == port
				}
			default:
				return false, fmt.Errorf("port %v: want a number or a name", v)
			}
		}
		if !hit {
			return false, nil
		}
	}
	peers, ok := Get(rule, "from").([]any)
	if !ok || len(peers) == 0 {
		return true, nil
	}
	for _, peer := range peers {
		ok, err := PeerMatches(peer, policyNS, src)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// PeerMatches reports whether a NetworkPolicyPeer of a policy in policyNS
// selects src.
func PeerMatches(peer any, policyNS string, src Pod) (bool, error) {
	podSel, nsSel := Get(peer, "podSelector"), Get(peer, "namespaceSelector")
	if podSel == nil && nsSel == nil {
		return false, nil // an ipBlock: no pod
	}
	if nsSel == nil {
		if src.Namespace != policyNS {
			return false, nil
		}
	} else if ok, err := matches(nsSel, src.nsLabels()); err != nil || !ok {
		return false, err
	}
	if podSel == nil {
		return true, nil
	}
	return matches(podSel, src.Labels)
}

// matches reports whether a metav1.LabelSelector selects labels; an empty
// selector selects everything.
func matches(sel any, labels map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	m, ok := asMap(sel)
	if !ok {
		return false, fmt.Errorf("selector %v: not an object", sel)
	}
	for k := range m {
		if k != "matchLabels" && k != "matchExpressions" {
			return false, fmt.Errorf("selector field %q unknown", k)
		}
	}
	if ml, ok := m["matchLabels"].(map[string]any); ok {
		for k, v := range ml {
			if labels[k] != v {
				return false, nil
			}
		}
	}
	exprs, _ := m["matchExpressions"].([]any)
	for _, e := range exprs {
		key, _ := Get(e, "key").(string)
		op, _ := Get(e, "operator").(string)
		vals, _ := Get(e, "values").([]any)
		v, has := labels[key]
		in := false
		for _, x := range vals {
			in = in || x == v
		}
		switch op {
		case "In":
			if !has || !in {
				return false, nil
			}
		case "NotIn":
			if has && in {
				return false, nil
			}
		case "Exists":
			if !has {
				return false, nil
			}
		case "DoesNotExist":
			if has {
				return false, nil
			}
		default:
			return false, fmt.Errorf("selector operator %q unknown", op)
		}
	}
	return true, nil
}

// Pods returns the pods the objects run in the shop's namespace, by a short
// name: the pod template of each Deployment and Job (by the workload's
// name), the instances of each CNPG Cluster (by the cluster's name), the
// brokers of each Strimzi Kafka ("kafka") and the workers of each
// KafkaConnect ("connect"), labelled as their operators label them.
func Pods(objs []Object) map[string]Pod {
	out := map[string]Pod{}
	for _, o := range objs {
		ns, _ := Get(o, "metadata", "namespace").(string)
		switch o.Kind() {
		case "Deployment", "Job":
			p := Pod{Namespace: ns, Labels: map[string]string{}, Ports: map[string]int{}}
			if l, ok := Get(o, "spec", "template", "metadata", "labels").(map[string]any); ok {
				for k, v := range l {
					p.Labels[k], _ = v.(string)
				}
			}
			containers, _ := Get(o, "spec", "template", "spec", "containers").([]any)
			for _, c := range containers {
				ports, _ := Get(c, "ports").([]any)
				for _, port := range ports {
					name, _ := Get(port, "name").(string)
					if n, ok := AsInt(Get(port, "containerPort")); ok && name != "" {
						p.Ports[name] = n
					}
				}
			}
			out[o.Name()] = p
		case "Cluster":
			out[o.Name()] = Pod{Namespace: ns, Labels: map[string]string{
				"cnpg.io/cluster": o.Name(), "cnpg.io/podRole": "instance"}}
		case "Kafka":
			out["kafka"] = Pod{Namespace: ns, Labels: map[string]string{
				"strimzi.io/cluster": o.Name(), "strimzi.io/kind": "Kafka", "strimzi.io/name": o.Name() + "-kafka"}}
		case "KafkaConnect":
			out["connect"] = Pod{Namespace: ns, Labels: map[string]string{
				"strimzi.io/cluster": o.Name(), "strimzi.io/kind": "KafkaConnect", "strimzi.io/name": o.Name() + "-connect"}}
		}
	}
	return out
}
