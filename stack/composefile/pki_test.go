package composefile_test

import (
	"context"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"

	"shop/stack/composefile"
)

// pkiRoot is where the pki job keeps the gRPC PKI, a directory per identity
// (ca, and each program's).
const pkiRoot = "/var/lib/shop/pki"

// Every program runs as the same user, so the gRPC PKI is a volume per
// identity: the one-shot pki job mounts the CA's and every program's, each
// program mounts its own alone, read only. A foothold in one program then
// holds neither another program's key nor the CA's.
func TestComposePKIVolumeIsItsProgramsAlone(t *testing.T) {
	p, err := composefile.Load(context.Background(), file, exampleEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	// The programs with a gRPC identity: those whose certificate files
	// are set.
	var programs []string
	for name, s := range p.Services {
		if s.Environment["GRPC_TLS_CERT_FILE"] != nil {
			programs = append(programs, name)
		}
	}
	slices.Sort(programs)
	if strings.Join(programs, ",") != "gateway,orders,payments" {
		t.Errorf("programs with GRPC_TLS_CERT_FILE: %v, want gateway, orders and payments", programs)
	}

	pkiMounts := map[string]bool{} // the identities the pki job mounts
	own := map[string]bool{}       // the programs that mount their own volume
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			id, isPKI := strings.CutPrefix(v.Source, "pki-")
			if !isPKI && v.Source != "pki" && v.Target != pkiRoot && !strings.HasPrefix(v.Target, pkiRoot+"/") {
				continue
			}
			switch {
			case v.Source == "pki":
				t.Errorf("service %s mounts the volume pki: one volume for every identity and the CA", name)
			case name == "pki":
				if !isPKI || v.Type != "volume" || v.Target != path.Join(pkiRoot, id) || v.ReadOnly {
					t.Errorf("pki job mounts %s at %s (type %s, read only %v), want a pki-<identity> volume at %s/<identity>, writable",
						v.Source, v.Target, v.Type, v.ReadOnly, pkiRoot)
				}
				pkiMounts[id] = true
			case id != name || v.Type != "volume" || v.Target != path.Join(pkiRoot, name) || !v.ReadOnly:
				t.Errorf("service %s mounts %s at %s (type %s, read only %v): a program mounts its own identity's volume alone, pki-%s at %s/%s, read only",
					name, v.Source, v.Target, v.Type, v.ReadOnly, name, pkiRoot, name)
			default:
				own[name] = true
			}
		}
	}

	for _, prog := range programs {
		if !own[prog] {
			t.Errorf("service %s does not mount pki-%s", prog, prog)
		}
		for _, v := range []string{"GRPC_TLS_CERT_FILE", "GRPC_TLS_KEY_FILE", "GRPC_TLS_CA_FILE"} {
			if f := p.Services[prog].Environment[v]; f == nil || path.Dir(*f) != path.Join(pkiRoot, prog) {
				t.Errorf("service %s: %s = %v, want a file of its own volume, %s/%s", prog, v, f, pkiRoot, prog)
			}
		}
	}
	// The pki job mounts the CA's volume and each program's, and issues a
	// certificate for exactly those programs: one for another name would
	// land outside every volume, or be one nobody should hold.
	want := append([]string{"ca"}, programs...)
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(pkiMounts)); !slices.Equal(got, want) {
		t.Errorf("pki job mounts the volumes of %v, want %v", got, want)
	}
	cmd := p.Services["pki"].Command
	if len(cmd) == 0 || cmd[0] != "pki" {
		t.Fatalf("pki job command %q, want stack pki", cmd)
	}
	issued := slices.Sorted(slices.Values(cmd[1:]))
	if !slices.Equal(issued, programs) {
		t.Errorf("pki job issues certificates for %v, want the programs %v", issued, programs)
	}
}
