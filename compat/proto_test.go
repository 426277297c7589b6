package compat

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The repository root, seen from this package's directory (where go test
// runs).
const repoRoot = ".."

// requireBaseline returns the baseline commit, skipping the test when git or
// the commit is missing outside CI and failing it in CI.
func requireBaseline(t *testing.T) string {
	t.Helper()
	baseline, err := Baseline()
	if err != nil {
		t.Fatal(err)
	}
	if err := CommitPresent(context.Background(), repoRoot, baseline); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return baseline
}

// requireBuf returns the path of the pinned Buf CLI, skipping the test when
// it is not built outside CI and failing it in CI.
func requireBuf(t *testing.T) string {
	t.Helper()
	buf, err := filepath.Abs(filepath.Join(repoRoot, ".bin", "buf"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(buf); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Buf CLI is missing in CI (%v): make test builds it (make .bin/buf)", err)
		}
		t.Skipf("the Buf CLI is not built (%s): run `make check-compat`", buf)
	}
	return buf
}

func TestBaselineIsInHistory(t *testing.T) {
	baseline := requireBaseline(t)
	out, err := exec.Command("git", "-C", repoRoot, "merge-base", "--is-ancestor", baseline, "HEAD").CombinedOutput()
	if err != nil {
		t.Errorf("the baseline %s (%s) is not an ancestor of HEAD: it must be a commit of main that this code grew from (%v %s)",
			baseline, BaselineFile, err, out)
	}
}

func TestCommitPresentErrBaselineMissing(t *testing.T) {
	requireBaseline(t)
	err := CommitPresent(context.Background(), repoRoot, "0000000000000000000000000000000000000000")
	if !errors.Is(err, ErrBaselineMissing) {
		t.Fatalf("CommitPresent(zero commit) = %v, want ErrBaselineMissing", err)
	}
	if !strings.Contains(err.Error(), "git fetch") {
		t.Errorf("error %q does not say how to fetch the commit", err)
	}
}

// inMessage replaces the first old after "message <name> {" with new, failing
// the test when there is none (so that an edit cannot silently do nothing).
func inMessage(name, old, new string) func(t *testing.T, src string) string {
	return func(t *testing.T, src string) string {
		t.Helper()
		head := "message " + name + " {"
		i := strings.Index(src, head)
		if i < 0 || !strings.Contains(src[i:], old) {
			t.Fatalf("no %q in message %s", old, name)
		}
		return src[:i] + strings.Replace(src[i:], old, new, 1)
	}
}

// TestCheckProto runs the compatibility check over a copy of proto/ edited
// the ways a schema evolves: the additions pass, every rename, renumbering,
// retyping or deletion fails with what broke and how to do it instead.
func TestCheckProto(t *testing.T) {
	buf := requireBuf(t)
	baseline := requireBaseline(t)
	const ordersProto = "orders/v1/orders.proto"
	tests := []struct {
		name  string
		edit  func(t *testing.T, src string) string // of orders.proto; nil: unchanged
		rules []string                              // the rules that must be reported; none: compatible
	}{
		{name: "OKUnchanged"},
		{name: "OKEventAddsField", edit: inMessage("OrderCreated", "  google.protobuf.Timestamp created_at = 5;\n",
			"  google.protobuf.Timestamp created_at = 5;\n  string coupon = 6;\n")},
		{name: "OKDeprecatedField", edit: inMessage("OrderCreated", "string currency = 4;", "string currency = 4 [deprecated = true];")},
		{name: "OKNewEventType", edit: func(t *testing.T, src string) string {
			return src + "\nmessage OrderShipped {\n  string order_id = 1;\n}\n"
		}},
		{name: "ErrEventRenamesField", edit: inMessage("OrderCreated", "int64 amount = 3;", "int64 total = 3;"),
			rules: []string{"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"}},
		{name: "ErrEventRenumbersField", edit: inMessage("OrderCreated", "int64 amount = 3;", "int64 amount = 6;"),
			rules: []string{"FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"}},
		{name: "ErrEventRetypesField", edit: inMessage("OrderCreated", "int64 amount = 3;", "string amount = 3;"),
			rules: []string{"FIELD_WIRE_JSON_COMPATIBLE_TYPE"}},
		{name: "ErrEventDeletesField", edit: inMessage("OrderCreated", "  string currency = 4;\n", ""),
			rules: []string{"FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"}},
		{name: "ErrRenamesEventType", edit: inMessage("OrderCreated", "OrderCreated", "OrderPlaced"),
			rules: []string{"PACKAGE_MESSAGE_NO_DELETE"}},
		{name: "ErrAPIRenamesField", edit: inMessage("CreateOrderRequest", "string description = 3;", "string note = 3;"),
			rules: []string{"FIELD_SAME_NAME", "FIELD_SAME_JSON_NAME"}},
		{name: "ErrDeletesRPC", edit: func(t *testing.T, src string) string {
			const rpc = "  rpc GetOrder(GetOrderRequest) returns (GetOrderResponse);\n"
			if !strings.Contains(src, rpc) {
				t.Fatalf("no %q", rpc)
			}
			return strings.Replace(src, rpc, "", 1)
		}, rules: []string{"RPC_NO_DELETE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "proto")
			if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot, "proto"))); err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				name := filepath.Join(dir, ordersProto)
				b, err := os.ReadFile(name)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(name, []byte(tt.edit(t, string(b))), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			err := CheckProto(context.Background(), buf, repoRoot, dir, baseline)

			if len(tt.rules) == 0 {
				if err != nil {
					t.Fatalf("CheckProto = %v, want compatible", err)
				}
				return
			}
			var breaking *BreakingError
			if !errors.As(err, &breaking) {
				t.Fatalf("CheckProto = %v, want a *BreakingError", err)
			}
			msg := err.Error()
			for _, rule := range tt.rules {
				if !strings.Contains(msg, "["+rule+"]") {
					t.Errorf("the report does not name %s:\n%s", rule, msg)
				}
			}
			for _, want := range []string{"proto/" + ordersProto + ":", baseline, Guidance} {
				if !strings.Contains(msg, want) {
					t.Errorf("the report lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}
