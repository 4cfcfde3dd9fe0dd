package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wattson-dev/wattson/internal/listflag"
	"github.com/wattson-dev/wattson/mocks/internal/agent"
	"github.com/wattson-dev/wattson/mocks/internal/record"
	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// runRecord is `wattson-snmpsim record`: walk a live agent and write a .snmprec, with the flag
// names of snmpsim's recorder (snmpsim-record-commands).
func runRecord(args []string, stdout, stderr io.Writer) int {
	var (
		o        record.Options
		output   string
		auth     string
		priv     string
		keep     listflag.Strings
		noKeep   bool
		fs       = flag.NewFlagSet("wattson-snmpsim record", flag.ContinueOnError)
		authSet  bool
		privSet  bool
		timeoutF time.Duration
	)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `wattson-snmpsim record: walk a live SNMP agent and write a .snmprec recording.

Usage:
  wattson-snmpsim record --agent-udpv4-endpoint=HOST:PORT [--protocol-version=2c] [--community=public] \
      [--output-file=NAME.snmprec] [--anonymise] [flags]

Examples:
  wattson-snmpsim record --agent-udpv4-endpoint=127.0.0.1:161 --community=public --output-file=my-pdu.snmprec
  wattson-snmpsim record --agent-udpv4-endpoint=127.0.0.1:161 --protocol-version=3 --v3-user=wattson \
      --v3-auth-proto=SHA --v3-auth-key=authpass1 --v3-priv-proto=AES --v3-priv-key=privpass1 \
      --anonymise --output-file=my-pdu.snmprec

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.Target, "agent-udpv4-endpoint", "", "HOST:PORT of the agent to walk (required; port 161 if omitted)")
	fs.StringVar(&o.Version, "protocol-version", "2c", "SNMP version: 1, 2c or 3")
	fs.StringVar(&o.Community, "community", "public", "community (v1, v2c)")
	fs.StringVar(&o.User, "v3-user", "", "SNMPv3 user")
	fs.StringVar(&o.AuthKey, "v3-auth-key", "", "SNMPv3 authentication passphrase (protocol MD5 unless --v3-auth-proto)")
	fs.StringVar(&auth, "v3-auth-proto", "", "MD5, SHA, SHA224, SHA256, SHA384 or SHA512")
	fs.StringVar(&o.PrivKey, "v3-priv-key", "", "SNMPv3 privacy passphrase (protocol DES unless --v3-priv-proto)")
	fs.StringVar(&priv, "v3-priv-proto", "", "DES, AES, AES192, AES256, AES192C or AES256C")
	fs.StringVar(&o.ContextName, "v3-context-name", "", "SNMPv3 context name")
	fs.StringVar(&o.StartOID, "start-object", "1.3.6", "OID to start the walk at")
	fs.StringVar(&o.StopOID, "stop-object", "", "OID to stop the walk before (default: the end of --start-object's subtree)")
	fs.StringVar(&output, "output-file", "", "recording to write (default: standard output); written atomically")
	fs.DurationVar(&timeoutF, "timeout", 5*time.Second, "timeout of each request")
	fs.IntVar(&o.Retries, "retries", 2, "retries of each request")
	fs.Func("max-repetitions", "GETBULK max-repetitions (v2c, v3; default 25)", func(s string) error {
		_, err := fmt.Sscan(s, &o.MaxRepetitions)
		return err
	})
	fs.BoolVar(&o.Anonymise, "anonymise", false, "replace names, serials, locations, contacts (any string with a letter), IP and MAC addresses with stable placeholders, to share the recording")
	fs.Var(&keep, "anonymise-keep", "OID prefix whose strings --anonymise keeps (repeatable; default sysDescr and sysObjectID)")
	fs.BoolVar(&noKeep, "anonymise-all", false, "with --anonymise, keep nothing, not even sysDescr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wattson-snmpsim record: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	fs.Visit(func(f *flag.Flag) {
		authSet = authSet || f.Name == "v3-auth-proto"
		privSet = privSet || f.Name == "v3-priv-proto"
	})
	if o.Target == "" {
		fmt.Fprintln(stderr, "wattson-snmpsim record: flag --agent-udpv4-endpoint is required")
		return 2
	}
	switch o.Version {
	case "1", "2c", "2", "3":
	default:
		fmt.Fprintf(stderr, "wattson-snmpsim record: flag --protocol-version: %q is not 1, 2c or 3\n", o.Version)
		return 2
	}
	var err error
	if authSet {
		if o.AuthProto, err = agent.ParseAuthProto(auth); err != nil {
			fmt.Fprintln(stderr, "wattson-snmpsim record: flag --v3-auth-proto:", err)
			return 2
		}
	}
	if privSet {
		if o.PrivProto, err = agent.ParsePrivProto(priv); err != nil {
			fmt.Fprintln(stderr, "wattson-snmpsim record: flag --v3-priv-proto:", err)
			return 2
		}
	}
	o.Timeout = timeoutF
	o.Keep = keep
	if len(o.Keep) == 0 && !noKeep {
		o.Keep = record.DefaultKeep
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	recs, err := record.Walk(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "wattson-snmpsim record:", err)
		return 1
	}
	if len(recs) == 0 {
		fmt.Fprintf(stderr, "wattson-snmpsim record: %s answered no variables under %s\n", o.Target, o.StartOID)
		return 1
	}
	if output == "" {
		if err := snmprec.Format(stdout, recs); err != nil {
			fmt.Fprintln(stderr, "wattson-snmpsim record:", err)
			return 1
		}
		return 0
	}
	if err := writeRecording(output, recs); err != nil {
		fmt.Fprintln(stderr, "wattson-snmpsim record:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %d variables to %s\n", len(recs), output)
	return 0
}

func writeRecording(path string, recs []snmprec.Record) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := snmprec.Format(tmp, recs); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	return nil
}
