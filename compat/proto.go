package compat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// BreakingError is the verdict of CheckProto when proto/ breaks the wire or
// the JSON form of the baseline's messages and services. Its message lists
// what broke and how to evolve the schema instead.
type BreakingError struct {
	Baseline string   // the commit checked against
	Changes  []string // one line per breaking change, "file:line:column: what [RULE]"
}

func (e *BreakingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "proto/ is not compatible with the baseline %s (%s): old and new binaries could not read each other's messages during an upgrade:\n", e.Baseline, BaselineFile)
	for _, c := range e.Changes {
		b.WriteString("  " + c + "\n")
	}
	b.WriteString(Guidance)
	return b.String()
}

// Guidance says how to evolve proto/ without breaking the baseline; it ends
// every BreakingError.
const Guidance = `How to evolve instead (docs/upgrades.md, "Changing an event or an API field"):
  - never rename a field, change its number or its type, or move it into or out of a oneof:
    events travel as protojson, so the JSON name matters as much as the number;
  - to change a field, add a new field with a new number, write both, read the new one with a
    fallback to the old, and mark the old one [deprecated = true]; delete it only once the baseline
    no longer reads it, then reserve its number and name (reserved 3; reserved "amount";);
  - a new shape is a new message; a new meaning is a new event type (a new message, published
    beside the old one until every consumer knows it); a new call is a new RPC;
  - never delete or rename a message, a service or an RPC the baseline uses: an event's type is
    its message name, and gRPC calls go by package, service and method name.
`

// ErrBaselineMissing is returned when the baseline commit is not in the
// repository (a shallow clone, or a commit never fetched).
var ErrBaselineMissing = errors.New("the baseline commit is not in this repository")

// CommitPresent returns nil when commit is a commit of the git repository at
// repo, ErrBaselineMissing (wrapped, with how to fetch it) when it is not,
// and another error when git cannot be run.
func CommitPresent(ctx context.Context, repo, commit string) error {
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("git is needed to read the baseline: %w", err)
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repo, "cat-file", "-e", commit+"^{commit}")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s (%s): fetch the full history (git fetch --unshallow) or the commit (git fetch origin %s): %s",
			ErrBaselineMissing, commit, BaselineFile, commit, bytes.TrimSpace(out))
	}
	return nil
}

// CheckProto compares the .proto files of the directory protoDir (the module
// that protoDir/buf.yaml describes) with proto/ at the baseline commit of the
// git repository at repo, by the breaking rules of protoDir/buf.yaml, using
// the Buf CLI at buf. It returns nil when they are compatible, a
// *BreakingError when they are not, ErrBaselineMissing (wrapped) when the
// commit is not in repo, and another error when a tool fails.
func CheckProto(ctx context.Context, buf, repo, protoDir, baseline string) error {
	if err := CommitPresent(ctx, repo, baseline); err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "-C", repo, "archive", "--format=tar", baseline, "proto")
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	tar, err := archive.Output()
	if err != nil {
		return fmt.Errorf("read proto/ of %s: %w: %s", baseline, err, bytes.TrimSpace(stderr.Bytes()))
	}

	// buf runs beside protoDir so that the files it names start with its
	// base name ("proto/orders/v1/orders.proto").
	protoDir, err = filepath.Abs(protoDir)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, buf, "breaking", filepath.Base(protoDir),
		"--against", "-#format=tar,subdir=proto", "--error-format=json")
	cmd.Dir = filepath.Dir(protoDir)
	cmd.Stdin = bytes.NewReader(tar)
	var stdout bytes.Buffer
	stderr.Reset()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == bufFileAnnotations:
		changes, perr := parseAnnotations(stdout.Bytes())
		if perr != nil {
			return fmt.Errorf("read buf breaking's report: %w", perr)
		}
		return &BreakingError{Baseline: baseline, Changes: changes}
	default:
		return fmt.Errorf("buf breaking: %w: %s%s", err, stdout.Bytes(), bytes.TrimSpace(stderr.Bytes()))
	}
}

// bufFileAnnotations is the exit code of buf when it found problems in the
// files (here: breaking changes), as opposed to failing to run.
const bufFileAnnotations = 100

// parseAnnotations turns buf's JSON report, one object per line, into lines
// "file:line:column: message [RULE]".
func parseAnnotations(report []byte) ([]string, error) {
	var changes []string
	sc := bufio.NewScanner(bytes.NewReader(report))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var a struct {
			Path      string `json:"path"`
			StartLine int    `json:"start_line"`
			StartCol  int    `json:"start_column"`
			Type      string `json:"type"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("%q: %w", sc.Bytes(), err)
		}
		changes = append(changes, fmt.Sprintf("%s:%d:%d: %s [%s]", a.Path, a.StartLine, a.StartCol, a.Message, a.Type))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, errors.New("buf reported breaking changes but listed none")
	}
	return changes, nil
}
