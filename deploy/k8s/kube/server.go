package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Server is an etcd and a kube-apiserver on 127.0.0.1, and kubectl
// configured for them as an administrator (group system:masters). No
// controller, scheduler or kubelet runs: objects are stored and validated,
// never acted on.
type Server struct {
	// Kubeconfig is the file kubectl reads (also written as KUBECONFIG for
	// Kubectl's commands).
	Kubeconfig string
	// URL is the API server's https address.
	URL string

	kubectl         string
	dir             string
	etcd, apiserver *exec.Cmd
	exited          chan struct{}
}

// Start starts etcd and kube-apiserver on free loopback ports with their
// state under dir, and waits until the API server is ready (a second or two
// on an idle machine). Stop ends both.
func Start(ctx context.Context, tools Tools, dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sec, err := makeSecrets(dir)
	if err != nil {
		return nil, fmt.Errorf("make the API server's certificates and keys: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	s := &Server{
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		URL:        "https://127.0.0.1:" + strconv.Itoa(ports[2]),
		kubectl:    tools.Kubectl, dir: dir, exited: make(chan struct{}),
	}
	s.etcd, err = startLogged(filepath.Join(dir, "etcd.log"), tools.Etcd,
		"--name=check", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=check="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	s.apiserver, err = startLogged(filepath.Join(dir, "apiserver.log"), tools.APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--cert-dir="+dir, "--tls-cert-file="+sec.certFile, "--tls-private-key-file="+sec.keyFile,
		"--token-auth-file="+sec.tokenFile, "--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+sec.saPublicFile, "--service-account-signing-key-file="+sec.saPrivFile,
		"--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
		"--endpoint-reconciler-type=none", "--enable-priority-and-fairness=false")
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	go func() {
		s.apiserver.Wait()
		close(s.exited)
	}()
	if err := os.WriteFile(s.Kubeconfig, kubeconfig(s.URL, sec), 0o600); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.waitReady(ctx, sec, 2*time.Minute); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop ends the API server, then etcd.
func (s *Server) Stop() {
	for _, c := range []*exec.Cmd{s.apiserver, s.etcd} {
		if c == nil || c.Process == nil {
			continue
		}
		c.Process.Signal(syscall.SIGTERM)
		t := time.AfterFunc(10*time.Second, func() { c.Process.Kill() })
		if c == s.apiserver {
			<-s.exited
		} else {
			c.Wait()
		}
		t.Stop()
	}
}

// Kubectl runs kubectl against the server with stdin (may be nil) and
// returns its combined output; the error carries that output too.
func (s *Server) Kubectl(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.kubectl, append([]string{"--kubeconfig=" + s.Kubeconfig}, args...)...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
	}
	return out, nil
}

// Log is the tail of the API server's log, for a failure's message.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "apiserver.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *Server) waitReady(ctx context.Context, sec secrets, timeout time.Duration) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sec.caPEM)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+sec.token)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("kube-apiserver exited at start:\n%s", s.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after %s (%v):\n%s", timeout, err, s.Log())
		}
	}
}

func kubeconfig(url string, sec secrets) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: v1
kind: Config
clusters:
- name: check
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: check-admin
  user:
    token: %s
contexts:
- name: check
  context:
    cluster: check
    user: check-admin
current-context: check
`, url, base64.StdEncoding.EncodeToString(sec.caPEM), sec.token)
	return b.Bytes()
}

// startLogged starts bin with args, its output appended to logFile.
func startLogged(logFile, bin string, args ...string) (*exec.Cmd, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, and killed with the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	f.Close()
	return cmd, err
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
