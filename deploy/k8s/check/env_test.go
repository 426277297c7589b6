package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"shop/audit"
	gatewayapp "shop/gateway/app"
	ordersapp "shop/orders/app"
	paymentsapp "shop/payments/app"
	"shop/service"
)

// binary is what a workload runs, as far as its environment goes.
type binary struct {
	// reads are the variables the binary reads.
	reads map[string]bool
	// load reads a configuration through lookup and validates it, as the
	// binary does at start; nil when the binary's configuration is not
	// importable (then only the names are checked).
	load func(lookup service.Lookup) error
}

// asked returns the variables load looks up: every variable the binary
// reads, since its loader (service.Load) looks up each one, set or not.
func asked(load func(service.Lookup) error) map[string]bool {
	seen := map[string]bool{}
	_ = load(func(name string) (string, bool) { seen[name] = true; return "", false })
	return seen
}

// docsReaders returns the variables docs/configuration.md's table says
// reader reads (its "read by" column names it): for a binary whose
// configuration is a main package's.
func docsReaders(t *testing.T, reader string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "docs/configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(b), "\n## Variables\n")
	table, _, _ = strings.Cut(table, "\n## ")
	code := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	out := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.Contains(cells[3], "`"+reader+"`") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatalf("docs/configuration.md lists no variable read by %s", reader)
	}
	return out
}

// binaries returns the binary each workload of the manifests runs, by the
// workload's name.
func binaries(t *testing.T) map[string]binary {
	t.Helper()
	ctx := context.Background()
	migrate := binary{reads: docsReaders(t, "shop-migrate")}
	loaders := map[string]func(service.Lookup) error{
		"orders":   func(l service.Lookup) error { _, err := ordersapp.LoadConfig(ctx, l); return err },
		"payments": func(l service.Lookup) error { _, err := paymentsapp.LoadConfig(ctx, l); return err },
		"gateway":  func(l service.Lookup) error { _, err := gatewayapp.LoadConfig(ctx, l); return err },
	}
	out := map[string]binary{"orders-migrate": migrate, "payments-migrate": migrate}
	for name, load := range loaders {
		out[name] = binary{reads: asked(load), load: load}
		if len(out[name].reads) < 5 {
			t.Fatalf("%s's loader looked up %d variables: the spy does not see them", name, len(out[name].reads))
		}
	}
	// shop-audit reads four variables: the spy must see each one the
	// documentation says it reads.
	audit := binary{reads: asked(loadScheduledAudit), load: loadScheduledAudit}
	for v := range docsReaders(t, "shop-audit") {
		if !audit.reads[v] {
			t.Fatalf("shop-audit's loader did not look up %s: the spy does not see it", v)
		}
	}
	out["shop-audit"] = audit
	return out
}

// loadScheduledAudit loads shop-audit's configuration as the binary does
// (service.Load validates it) and refuses one that would run the audit once
// and exit: a Deployment runs the scheduled audit, whose metrics
// Prometheus scrapes (AUDIT_INTERVAL, since the manifests give no -every).
func loadScheduledAudit(lookup service.Lookup) error {
	var cfg audit.Config
	if err := service.Load(context.Background(), lookup, &cfg); err != nil {
		return err
	}
	if cfg.Interval == 0 {
		return fmt.Errorf("AUDIT_INTERVAL is 0: shop-audit runs once and exits, and nothing serves its metrics")
	}
	return nil
}

// containerEnv returns the variables a container sets and their values:
// literal values and ConfigMap values as they are, a Secret's value as a
// stand-in the binary accepts (a URL for a database URL), since Secrets are
// not in the manifests.
func containerEnv(objs []Object, c any) (map[string]string, error) {
	env := map[string]string{}
	from, _ := Get(c, "envFrom").([]any)
	for _, f := range from {
		name, _ := Get(f, "configMapRef", "name").(string)
		if name == "" {
			return nil, fmt.Errorf("envFrom %v: only ConfigMaps are checkable (their keys are in the manifests)", f)
		}
		cm := Find(objs, "ConfigMap", name)
		if cm == nil {
			return nil, fmt.Errorf("envFrom ConfigMap %s: not in the manifests", name)
		}
		data, _ := Get(cm, "data").(map[string]any)
		for k, v := range data {
			env[k], _ = v.(string)
		}
	}
	list, _ := Get(c, "env").([]any)
	for _, e := range list {
		name, _ := Get(e, "name").(string)
		switch {
		case Get(e, "valueFrom", "secretKeyRef") != nil:
			env[name] = "secret"
			if strings.HasSuffix(name, "DATABASE_URL") {
				env[name] = "postgres://role:secret@db-rw:5432/db?sslmode=require"
			}
		case Get(e, "valueFrom", "configMapKeyRef") != nil:
			cm := Find(objs, "ConfigMap", Get(e, "valueFrom", "configMapKeyRef", "name").(string))
			if cm == nil {
				return nil, fmt.Errorf("%s: its ConfigMap is not in the manifests", name)
			}
			env[name], _ = Get(cm, "data", Get(e, "valueFrom", "configMapKeyRef", "key").(string)).(string)
		case Get(e, "valueFrom") != nil:
			env[name] = "field"
		default:
			env[name], _ = Get(e, "value").(string)
		}
	}
	return env, nil
}

// checkEnv checks every container of every Deployment and Job: each
// variable it sets is one its binary reads, the binary accepts the
// configuration, and each *_FILE variable names a file a volume provides.
func checkEnv(t *testing.T, objs []Object) []error {
	bins := binaries(t)
	var errs []error
	workloads := append(OfKind(objs, "Deployment"), OfKind(objs, "Job")...)
	if len(workloads) == 0 {
		return []error{fmt.Errorf("no Deployment or Job rendered")}
	}
	for _, w := range workloads {
		bin, ok := bins[w.Name()]
		if !ok {
			errs = append(errs, fmt.Errorf("%s %s: no binary known to run there (add it to binaries)", w.Kind(), w.Name()))
			continue
		}
		containers, _ := Get(w, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			cname, _ := Get(c, "name").(string)
			where := w.Kind() + " " + w.Name() + " container " + cname
			env, err := containerEnv(objs, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			for _, v := range sortedKeys(env) {
				if !bin.reads[v] {
					errs = append(errs, fmt.Errorf("%s sets %s, which its binary does not read", where, v))
				}
				if strings.HasSuffix(v, "_FILE") {
					if err := mounted(Get(w, "spec", "template", "spec"), c, env[v]); err != nil {
						errs = append(errs, fmt.Errorf("%s: %s=%s: %w", where, v, env[v], err))
					}
				}
			}
			if bin.load != nil {
				if err := bin.load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
					errs = append(errs, fmt.Errorf("%s: the binary refuses its configuration: %w", where, err))
				}
			}
		}
	}
	return errs
}

// mounted checks that path is a file one of the container's volume mounts
// provides: under the mount path, and among the volume's items when the
// volume lists them.
func mounted(pod, container any, path string) error {
	mounts, _ := Get(container, "volumeMounts").([]any)
	for _, m := range mounts {
		dir, _ := Get(m, "mountPath").(string)
		file, ok := strings.CutPrefix(path, strings.TrimSuffix(dir, "/")+"/")
		if !ok {
			continue
		}
		vols, _ := Get(pod, "volumes").([]any)
		for _, v := range vols {
			if Get(v, "name") != Get(m, "name") {
				continue
			}
			items, ok := Get(v, "secret", "items").([]any)
			if !ok {
				return nil
			}
			for _, it := range items {
				if Get(it, "path") == file {
					return nil
				}
			}
			return fmt.Errorf("volume %v lists no item %s", Get(v, "name"), file)
		}
		return fmt.Errorf("mount %s has no volume", dir)
	}
	return fmt.Errorf("no volume is mounted there")
}

// TestEnvVarsAreRead checks the environment of every workload of every
// overlay against the binary it runs (checkEnv).
func TestEnvVarsAreRead(t *testing.T) {
	forEachOverlay(t, checkEnv)
}

// consumes returns the consumer group and the topic the consumer of the
// service deployed as name reads, from its configuration read through
// lookup.
func consumes(t *testing.T, name string, lookup service.Lookup) (group, topic string, err error) {
	ctx := context.Background()
	switch name {
	case "orders":
		c, err := ordersapp.LoadConfig(ctx, lookup)
		return c.ConsumerGroup, c.Topics.Payments, err
	case "payments":
		c, err := paymentsapp.LoadConfig(ctx, lookup)
		return c.ConsumerGroup, c.Topics.Orders, err
	}
	return "", "", fmt.Errorf("%s runs no consumer", name)
}
