package local

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"shop/connect"
)

// ConnectUser is the user of a local worker's REST API.
const ConnectUser = "shop"

// ConnectPasswordSecret is the name, in a worker's secrets directory
// (ConnectConfig.SecretsDir), of the file holding the replication role's
// password: the connector configs read it through Connect's directory
// config provider as ${dir:<secrets dir>:debezium_db_password}, so that no
// connector config holds it (connect/*.json).
const ConnectPasswordSecret = "debezium_db_password"

// The settings that put a worker's REST API behind basic authentication
// (Kafka's BasicAuthSecurityRestExtension, which logs requests in through
// the JAAS section KafkaConnect) and give connector configs the directory
// config provider "dir", restricted to the secrets directory.
const (
	restExtension   = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
	restLoginModule = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"
	dirProvider     = "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
)

// restAuthFiles is where a worker with data directory dir keeps its REST
// credentials, all owner-only: the password alone (what clients read,
// CONNECT_PASSWORD_FILE), the users file of the login module, and the JAAS
// file naming it.
type restAuthFiles struct{ dir, password, users, jaas string }

func restAuthIn(dir string) restAuthFiles {
	d := filepath.Join(dir, "rest")
	return restAuthFiles{dir: d, password: filepath.Join(d, "password"),
		users: filepath.Join(d, "users.properties"), jaas: filepath.Join(d, "jaas.conf")}
}

// ConnectPasswordFile is the file holding the REST password of the worker
// whose data directory is dir (ConnectConfig.Dir): CONNECT_PASSWORD_FILE of
// its clients.
func ConnectPasswordFile(dir string) string { return restAuthIn(dir).password }

// EnsureConnectAuth is ensureRESTAuth for a worker that does not run
// here (a container): it returns the credentials and the JAAS file to give
// the worker's JVM (-Djava.security.auth.login.config), which names the
// users file next to it.
func EnsureConnectAuth(dir string) (connect.Credentials, string, error) {
	cred, f, err := ensureRESTAuth(dir)
	return cred, f.jaas, err
}

// RESTAuthProps are the worker settings of the REST authentication and of
// the directory config provider restricted to secretsDir, as properties.
func RESTAuthProps(secretsDir string) map[string]string {
	return map[string]string{
		"rest.extension.classes":                   restExtension,
		"config.providers":                         "dir",
		"config.providers.dir.class":               dirProvider,
		"config.providers.dir.param.allowed.paths": secretsDir,
	}
}

// ensureRESTAuth returns the worker's REST credentials, generating a
// password on the first start and keeping it after, and (re)writes the
// login module's users file and the JAAS file from it.
func ensureRESTAuth(dir string) (connect.Credentials, restAuthFiles, error) {
	f := restAuthIn(dir)
	// The worker's directory as startConnect makes it (its parents are
	// traversed by others: Postgres runs as its own user under root), then
	// the credentials' own, owner-only.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return connect.Credentials{}, f, err
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return connect.Credentials{}, f, err
	}
	if err := os.Chmod(f.dir, 0o700); err != nil {
		return connect.Credentials{}, f, err
	}
	b, err := os.ReadFile(f.password)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return connect.Credentials{}, f, err
		}
		b = []byte(hex.EncodeToString(raw))
		if err := writeSecret(f.password, string(b)+"\n"); err != nil {
			return connect.Credentials{}, f, err
		}
	} else if err != nil {
		return connect.Credentials{}, f, err
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" || strings.ContainsAny(pw, " \t:=\\#!") {
		return connect.Credentials{}, f, fmt.Errorf("kafka connect rest password in %s: empty or with a character the users file cannot hold", f.password)
	}
	if strings.ContainsAny(f.users, `"\`) {
		return connect.Credentials{}, f, fmt.Errorf("kafka connect data directory %s: a path with a quote or backslash cannot go into the JAAS file", dir)
	}
	if err := writeSecret(f.users, ConnectUser+": "+pw+"\n"); err != nil {
		return connect.Credentials{}, f, err
	}
	jaas := fmt.Sprintf("KafkaConnect {\n  %s required\n  file=%q;\n};\n", restLoginModule, f.users)
	if err := writeSecret(f.jaas, jaas); err != nil {
		return connect.Credentials{}, f, err
	}
	return connect.Credentials{Username: ConnectUser, Password: pw}, f, nil
}

// writeSecrets makes the owner-only directory dir (the directory config
// provider refuses to start with an allowed path that does not exist) and
// writes each secret into it, one owner-only file per name holding exactly
// the value (the provider reads a file's whole content).
func writeSecrets(dir string, secrets map[string]string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	for name, v := range secrets {
		if err := writeSecret(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	return nil
}

// writeSecret writes content to path, owner-only, replacing what was there.
func writeSecret(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// restAuthProps renders RESTAuthProps as lines of a properties file.
func restAuthProps(secretsDir string) string {
	props := RESTAuthProps(secretsDir)
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&b, "%s=%s\n", k, props[k])
	}
	return b.String()
}
