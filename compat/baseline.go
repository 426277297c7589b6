// Package compat keeps the code being changed compatible with the release
// that runs in production, so that old and new versions can run side by side
// during a rolling upgrade. It names that release, the compatibility
// baseline (a commit of main, in the file BaselineFile), and checks proto/
// against the baseline's proto/ for wire and JSON breaking changes.
package compat

import (
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// BaselineFile is where the baseline commit is written, relative to the
// repository root.
const BaselineFile = "compat/BASELINE"

//go:embed BASELINE
var baselineFile string

// commitPattern is an abbreviated or full hexadecimal commit name.
var commitPattern = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

// Baseline returns the compatibility baseline: the commit of main that
// BaselineFile names, as it was when this program was built.
func Baseline() (string, error) {
	return ParseBaseline(baselineFile)
}

// ParseBaseline returns the commit that the text of a baseline file names:
// its first line that is neither blank nor a comment (starting with #), with
// surrounding space removed. It is an error when there is no such line or it
// is not a commit name (7 to 40 lower-case hexadecimal digits).
func ParseBaseline(text string) (string, error) {
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !commitPattern.MatchString(line) {
			return "", fmt.Errorf("%s: %q is not a commit name (7 to 40 lower-case hexadecimal digits)", BaselineFile, line)
		}
		return line, nil
	}
	return "", errors.New(BaselineFile + ": no commit (every line is blank or a comment)")
}
