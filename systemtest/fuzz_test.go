package systemtest_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// The fuzzer and what one run of it must do. schemathesis is installed by
// .ci/fuzz-venv.sh (make fuzz-tools) into fuzzVenv, pinned in
// .ci/fuzz-requirements.txt.
const (
	fuzzVenv = "../.bin/fuzz-venv"
	// fuzzDocument is the gateway's committed OpenAPI document: the
	// contract the fuzzer holds the gateway to.
	fuzzDocument = "../gateway/docs/swagger.json"
	// fuzzConfig holds the few settings that a command line cannot say.
	fuzzConfig = "schemathesis.toml"
	// fuzzMinRequests is the least number of test cases a run generates.
	fuzzMinRequests = 1000
	// fuzzTimeout bounds one run.
	fuzzTimeout = 10 * time.Minute
)

// fuzzMode is one way the gateway establishes its caller, with the
// schemathesis arguments that authenticate a run as one user.
type fuzzMode struct {
	name string
	// start starts the shop in this mode and returns it with the
	// arguments that authenticate the run as user.
	start func(t *testing.T, user string) (*system.System, []string)
	// exclude names the checks that cannot hold in this mode, each with
	// the reason in the mode's comment.
	exclude []string
}

// fuzzModes are the gateway's AUTH_MODEs.
var fuzzModes = []fuzzMode{
	{
		// header: the gateway trusts X-User-ID (behind an authenticating
		// proxy). ignored_auth sends a made-up credential and expects a
		// refusal; in this mode any well-formed user id is a caller, by
		// design, so that check is for jwt mode.
		name: "header",
		start: func(t *testing.T, user string) (*system.System, []string) {
			// The fuzzer sends thousands of requests as one user: the
			// rate limit would answer most of them 429.
			return system.Start(t, system.Options{RateLimit: system.NoRateLimit}), []string{"--header", "X-User-ID: " + user}
		},
		exclude: []string{"ignored_auth"},
	},
	{
		// jwt: the gateway verifies a bearer token; every check holds,
		// ignored_auth included (a missing or made-up token is 401).
		name: "jwt",
		start: func(t *testing.T, user string) (*system.System, []string) {
			s := system.Start(t, system.Options{JWT: true, RateLimit: system.NoRateLimit})
			return s, []string{"--header", "Authorization: Bearer " + s.Token(t, user)}
		},
	},
}

// TestFuzzAPI runs schemathesis (every check it has) over every operation
// of the gateway's OpenAPI document against the whole shop, once per
// AUTH_MODE: examples, boundary coverage, random fuzzing in both positive
// and negative mode, and the stateful phase that chains operations (open
// an account, top up, order, get the order). Any failure fails the test:
// a 5xx, a response that does not match the document, a request valid by
// the document refused or an invalid one accepted.
//
// A run is as long as its example counts make it (about 1,700 test cases
// per mode, whatever the machine's speed). FUZZ_MAX_TIME (seconds) makes
// the fuzzing and stateful phases repeat until that time is spent instead;
// FUZZ_SEED repeats the run of the seed a report printed.
//
// The fuzzer must be installed (make fuzz-tools). Without it the test is
// skipped, except in CI (CI=true), where it fails.
func TestFuzzAPI(t *testing.T) {
	bin := schemathesisBinary(t)
	var extra []string
	for _, v := range []struct{ env, flag string }{{"FUZZ_MAX_TIME", "--max-time"}, {"FUZZ_SEED", "--seed"}} {
		if s := os.Getenv(v.env); s != "" {
			if _, err := strconv.ParseUint(s, 10, 64); err != nil && v.env == "FUZZ_MAX_TIME" {
				t.Fatalf("%s=%q: want a number of seconds", v.env, s)
			}
			extra = append(extra, v.flag, s)
		}
	}
	for _, mode := range fuzzModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			user := stacktest.Unique("fuzz-")
			s, auth := mode.start(t, user)
			res := runSchemathesis(t, bin, s.URL, slices.Concat(extra, auth), mode.exclude)
			t.Logf("%s mode: %d test cases generated, %d of %d operations tested, %d stateful scenarios over %s API links",
				mode.name, res.cases, res.tested, res.operations, res.scenarios, res.links)
			if res.cases < fuzzMinRequests {
				t.Errorf("schemathesis generated %d test cases, want at least %d", res.cases, fuzzMinRequests)
			}
			if res.operations == 0 || res.tested != res.operations {
				t.Errorf("schemathesis tested %d of %d operations, want every one", res.tested, res.operations)
			}
			if res.scenarios == 0 {
				t.Error("schemathesis ran no stateful scenario")
			}
		})
	}
}

// schemathesisBinary returns the path of the schemathesis command, skipping
// the test when it is not installed, or failing it in CI.
func schemathesisBinary(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(fuzzVenv, "bin", "schemathesis"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the API fuzzer is missing in CI (%v): .ci/run installs it with .ci/fuzz-venv.sh", err)
		}
		t.Skipf("the API fuzzer is not installed (%s): run `make fuzz-tools` (or `make fuzz`)", bin)
	}
	return bin
}

// fuzzResult is what a schemathesis run reports in its summary.
type fuzzResult struct {
	cases      int    // test cases generated
	operations int    // operations in the document
	tested     int    // operations tested
	scenarios  int    // stateful scenarios
	links      string // API links covered, as "7 covered / 9 selected / 9 total"
}

// runSchemathesis fuzzes the gateway at url and fails the test when
// schemathesis reports a failure or does not finish.
func runSchemathesis(t *testing.T, bin, url string, extra, exclude []string) fuzzResult {
	t.Helper()
	doc, err := filepath.Abs(fuzzDocument)
	if err != nil {
		t.Fatal(err)
	}
	config, err := filepath.Abs(fuzzConfig)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--config-file", config, "run", doc,
		"--url", url,
		"--checks", "all",
		"--phases", "examples,coverage,fuzzing,stateful",
		"--max-examples", "100", // per operation and phase: over 1,000 in all
		// One worker: CPython 3.11's parser is not thread-safe when
		// hypothesis describes its strategies ("AST constructor recursion
		// depth mismatch"), and the machine is shared anyway.
		"--workers", "1",
		"--request-timeout", "10",
		"--generation-database", "none",
		// The credentials are the mode's own (auth below); made-up values
		// of the other scheme's header would only muddle ignored_auth.
		"--generation-with-security-parameters", "false",
		"--output-sanitize", "false", // test credentials only: show what was sent
		"--no-color",
	}
	for _, c := range exclude {
		args = append(args, "--exclude-checks", c)
	}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir() // its reports and caches
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("schemathesis %v (%s):\n%s", args, time.Since(start).Round(time.Second), out.String())
	res := parseSchemathesisSummary(out.String())
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("schemathesis did not finish within %s", fuzzTimeout)
	case errors.As(err, &exit):
		t.Fatalf("schemathesis found failures (exit status %d): see its report above", exit.ExitCode())
	case err != nil:
		t.Fatalf("run schemathesis: %v", err)
	}
	return res
}

var (
	casesRe     = regexp.MustCompile(`(?m)^\s*(\d+) generated`)
	selectedRe  = regexp.MustCompile(`(?m)^\s*Selected: \d+/(\d+)`)
	testedRe    = regexp.MustCompile(`(?m)^\s*Tested: (\d+)`)
	scenariosRe = regexp.MustCompile(`(?m)^\s*Scenarios:\s+(\d+)`)
	linksRe     = regexp.MustCompile(`(?m)^\s*API Links:\s+(.*?)\s*$`)
)

// parseSchemathesisSummary reads the counts of schemathesis' summary; a
// count it does not find is 0.
func parseSchemathesisSummary(out string) fuzzResult {
	num := func(re *regexp.Regexp) int {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	res := fuzzResult{
		cases:      num(casesRe),
		operations: num(selectedRe),
		tested:     num(testedRe),
		scenarios:  num(scenariosRe),
	}
	if m := linksRe.FindStringSubmatch(out); m != nil {
		res.links = m[1]
	}
	return res
}

func TestParseSchemathesisSummary(t *testing.T) {
	const passed = `
         ✅  Stateful (in 18.77s)

             Scenarios:    143
             API Links:    7 covered / 9 selected / 9 total (1 inferred)

        =================================== SUMMARY ====================================

        API Operations:
          Selected: 9/9
          Tested: 9

        Test cases:
          1843 generated, 1843 passed, 21 skipped
`
	tests := []struct {
		name string
		out  string
		want fuzzResult
	}{
		{"OK", passed, fuzzResult{cases: 1843, operations: 9, tested: 9, scenarios: 143, links: "7 covered / 9 selected / 9 total (1 inferred)"}},
		{"NoSummary", "Error: connection refused\n", fuzzResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseSchemathesisSummary(tt.out); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
