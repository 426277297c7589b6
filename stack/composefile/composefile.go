// Package composefile loads the repository's docker-compose.yml with the
// Compose specification's own Go loader, so that the file is validated on
// machines without a Docker engine.
package composefile

import (
	"context"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Load parses and validates path (interpolating ${VAR:-default} from env) and
// returns the project it describes.
func Load(ctx context.Context, path string, env map[string]string) (*types.Project, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv(envList),
		cli.WithName("shop"),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}
