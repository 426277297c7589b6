package check

import (
	"fmt"
	"testing"
)

// checkHardening checks what every pod of the shop's programs must be:
// non-root, a read-only root filesystem, no privilege escalation, every
// capability dropped, the RuntimeDefault seccomp profile, no service
// account token, requests and limits. And every Deployment: spread over
// zones and nodes, a PodDisruptionBudget, an autoscaler (HPA or KEDA)
// owning its replica count, and so no replicas of its own; or else a
// singleton: one replica, no autoscaler, replaced by Recreate.
func checkHardening(_ *testing.T, objs []Object) []error {
	var errs []error
	workloads := append(OfKind(objs, "Deployment"), OfKind(objs, "Job")...)
	for _, w := range workloads {
		where := w.Kind() + " " + w.Name()
		pod := Get(w, "spec", "template", "spec")
		for _, want := range []struct {
			path []any
			v    any
		}{
			{[]any{"securityContext", "runAsNonRoot"}, true},
			{[]any{"securityContext", "seccompProfile", "type"}, "RuntimeDefault"},
			{[]any{"automountServiceAccountToken"}, false},
		} {
			if got := Get(pod, want.path...); got != want.v {
				errs = append(errs, fmt.Errorf("%s: pod %v is %v, want %v", where, want.path, got, want.v))
			}
		}
		containers, _ := Get(pod, "containers").([]any)
		for _, c := range containers {
			cw := fmt.Sprintf("%s container %v", where, Get(c, "name"))
			if Get(c, "securityContext", "readOnlyRootFilesystem") != true {
				errs = append(errs, fmt.Errorf("%s: root filesystem not read-only", cw))
			}
			if Get(c, "securityContext", "allowPrivilegeEscalation") != false {
				errs = append(errs, fmt.Errorf("%s: privilege escalation not refused", cw))
			}
			if drop, _ := Get(c, "securityContext", "capabilities", "drop").([]any); len(drop) != 1 || drop[0] != "ALL" {
				errs = append(errs, fmt.Errorf("%s: capabilities drop %v, want [ALL]", cw, drop))
			}
			for _, r := range []string{"requests", "limits"} {
				for _, res := range []string{"cpu", "memory"} {
					if Get(c, "resources", r, res) == nil {
						errs = append(errs, fmt.Errorf("%s: no %s %s", cw, res, r))
					}
				}
			}
		}
	}
	pods := Pods(objs)
	for _, d := range OfKind(objs, "Deployment") {
		where := "Deployment " + d.Name()
		scaled := false
		for _, a := range append(OfKind(objs, "HorizontalPodAutoscaler"), OfKind(objs, "ScaledObject")...) {
			scaled = scaled || Get(a, "spec", "scaleTargetRef", "name") == d.Name()
		}
		if n, ok := AsInt(Get(d, "spec", "replicas")); ok && n == 1 && !scaled {
			// A singleton (the scheduled audit): one pod, never two at once.
			if Get(d, "spec", "strategy", "type") != "Recreate" {
				errs = append(errs, fmt.Errorf("%s: one replica without strategy Recreate, so an update runs two at once", where))
			}
			continue
		}
		if tsc, _ := Get(d, "spec", "template", "spec", "topologySpreadConstraints").([]any); len(tsc) == 0 {
			errs = append(errs, fmt.Errorf("%s: no topology spread", where))
		}
		if Get(d, "spec", "replicas") != nil {
			errs = append(errs, fmt.Errorf("%s: sets replicas, which its autoscaler owns", where))
		}
		if !scaled {
			errs = append(errs, fmt.Errorf("%s: no autoscaler", where))
		}
		covered := false
		for _, pdb := range OfKind(objs, "PodDisruptionBudget") {
			ok, err := matches(Get(pdb, "spec", "selector"), pods[d.Name()].Labels)
			if err != nil {
				errs = append(errs, err)
			}
			covered = covered || ok
		}
		if !covered {
			errs = append(errs, fmt.Errorf("%s: no PodDisruptionBudget", where))
		}
	}
	return errs
}

// TestWorkloadsHardened checks every overlay's workloads (checkHardening).
func TestWorkloadsHardened(t *testing.T) {
	forEachOverlay(t, checkHardening)
}
