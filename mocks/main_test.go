package main

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wattson-dev/wattson/mocks/internal/agent"
)

func parseFlags(t *testing.T, args ...string) options {
	t.Helper()
	var o options
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&o.dataDirs, "data-dir", "")
	fs.Var(&o.templates, "device-template", "")
	fs.Var(userFlag{&o.users, func(u *userT, v string) error { *u = userT{Name: v}; return nil }, true}, "v3-user", "")
	fs.Var(userFlag{&o.users, func(u *userT, v string) error { u.AuthKey = v; return nil }, false}, "v3-auth-key", "")
	fs.StringVar(&o.contextDefault, "v3-context-default", "", "")
	fs.StringVar(&o.engineID, "v3-engine-id", "", "")
	fs.StringVar(&o.bootsFile, "v3-engine-boots-file", "", "")
	fs.BoolVar(&o.dryRun, "dry-run", false, "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestUserFlagsApplyToLastUser(t *testing.T) {
	o := parseFlags(t, "--v3-user=a", "--v3-auth-key=key-of-a1", "--v3-user=b", "--v3-auth-key=key-of-b1")
	if len(o.users) != 2 || o.users[0].AuthKey != "key-of-a1" || o.users[1].AuthKey != "key-of-b1" {
		t.Errorf("users = %+v", o.users)
	}
	var none []userT
	err := userFlag{&none, func(u *userT, v string) error { return nil }, false}.Set("x")
	if err == nil {
		t.Error("a key before any --v3-user was accepted")
	}
}

func TestSetup(t *testing.T) {
	good := t.TempDir()
	write(t, filepath.Join(good, "pdu.snmprec"), "1.3.6.1.2.1.1.1.0|4|PDU\n")
	bad := t.TempDir()
	write(t, filepath.Join(bad, "ok.snmprec"), "1.3.6.1.2.1.1.1.0|4|PDU\n")
	write(t, filepath.Join(bad, "broken.snmprec"), "1.3.6.1.2.1.1.1.0|4|PDU\n1.3.6.1.2.1.1.3.0|67|yesterday\n")
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		args []string
		want string // "" for success
	}{
		{"ok", []string{"--data-dir=" + good}, ""},
		{"ok with template and users", []string{"--data-dir=" + good, "--device-template=pdu:1000", "--v3-user=u", "--v3-auth-key=authkey1"}, ""},
		{"no data dir", nil, "flag --data-dir is required"},
		{"malformed file", []string{"--data-dir=" + bad}, "broken.snmprec:2: bad TimeTicks \"yesterday\""},
		{"bad template", []string{"--data-dir=" + good, "--device-template=pdu"}, `flag --device-template "pdu": want NAME:COUNT`},
		{"unknown template", []string{"--data-dir=" + good, "--device-template=nope:3"}, `device template "nope"`},
		{"short auth key", []string{"--data-dir=" + good, "--v3-user=u", "--v3-auth-key=short"}, "at least 8 characters"},
		{"bad engine id", []string{"--data-dir=" + good, "--v3-engine-id=zz"}, "flag --v3-engine-id"},
		{"unknown context default", []string{"--data-dir=" + good, "--v3-context-default=nope"}, `flag --v3-context-default: no device "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := setup(parseFlags(t, tt.args...), log)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("setup: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSetupDefaults(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "pdu.snmprec"), "1.3.6.1.2.1.1.1.0|4|PDU\n")
	o := parseFlags(t, "--data-dir="+dir, "--v3-user=u", "--v3-auth-key=authkey1")
	store, ag, _, err := setup(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if store.Len() != 1 || len(ag.EngineID()) == 0 {
		t.Errorf("store %d devices, engine %x", store.Len(), ag.EngineID())
	}
}

type userT = agent.User

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEngineBootsFile starts the simulator's setup twice on one boots file: snmpEngineBoots
// grows by one per start (and a dry run leaves it alone); without the file it is the start's
// Unix time, never the 1 it always was.
func TestEngineBootsFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "pdu.snmprec"), "1.3.6.1.2.1.1.1.0|4|PDU\n")
	boots := filepath.Join(t.TempDir(), "boots")
	start := func(args ...string) uint32 {
		t.Helper()
		_, ag, _, err := setup(parseFlags(t, append([]string{"--data-dir=" + dir, "--v3-user=u", "--v3-auth-key=authkey1"}, args...)...), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return ag.EngineBoots()
	}
	if a, b := start("--v3-engine-boots-file="+boots), start("--v3-engine-boots-file="+boots); a != 1 || b != 2 {
		t.Errorf("boots of two starts = %d, %d; want 1, 2", a, b)
	}
	if d, b := start("--v3-engine-boots-file="+boots, "--dry-run"), start("--v3-engine-boots-file="+boots); d == 3 || b != 3 {
		t.Errorf("dry run then start = %d, %d; want the dry run to leave the file (then 3)", d, b)
	}
	if b := start(); b < 1700000000 {
		t.Errorf("boots without a file = %d, want the Unix time of the start", b)
	}
}
