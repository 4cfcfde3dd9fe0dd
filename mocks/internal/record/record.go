package record

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gosnmp/gosnmp"

	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// Options say which agent to walk and how.
type Options struct {
	// Target is HOST:PORT of the agent.
	Target string
	// Version is "1", "2c" (default) or "3".
	Version   string
	Community string
	// V3 settings: user, auth and privacy protocol and passphrases, context.
	User        string
	AuthProto   gosnmp.SnmpV3AuthProtocol
	AuthKey     string
	PrivProto   gosnmp.SnmpV3PrivProtocol
	PrivKey     string
	ContextName string
	// StartOID is where the walk starts (default 1.3.6, snmpsim's default); StopOID, when set,
	// is where it ends (exclusive).
	StartOID, StopOID string
	// MaxRepetitions of each GETBULK (v2c, v3); default 25.
	MaxRepetitions uint32
	Timeout        time.Duration
	Retries        int
	// Anonymise replaces identifying strings and addresses; see anonymiser.
	Anonymise bool
	// Keep lists OID prefixes whose strings are kept even when anonymising (sysDescr, model
	// names: what a bug report needs).
	Keep []string
}

// Walk records the agent's variables under StartOID, in the agent's order.
func Walk(ctx context.Context, o Options) ([]snmprec.Record, error) {
	g, err := o.client()
	if err != nil {
		return nil, err
	}
	g.Context = ctx
	if err := g.Connect(); err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", o.Target, err)
	}
	defer g.Conn.Close()
	start := strings.TrimPrefix(o.StartOID, ".")
	if start == "" {
		start = "1.3.6"
	}
	var stop snmprec.OID
	if o.StopOID != "" {
		if stop, err = snmprec.ParseOID(strings.TrimPrefix(o.StopOID, ".")); err != nil {
			return nil, fmt.Errorf("stop OID: %w", err)
		}
	}
	an := newAnonymiser(o)
	var recs []snmprec.Record
	errStop := errors.New("stop")
	walk := g.BulkWalk
	if g.Version == gosnmp.Version1 {
		walk = g.Walk
	}
	err = walk(start, func(pdu gosnmp.SnmpPDU) error {
		r, ok, err := toRecord(pdu)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if stop != nil && snmprec.Compare(r.OID, stop) >= 0 {
			return errStop
		}
		an.apply(&r)
		recs = append(recs, r)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return recs, fmt.Errorf("walking %s from %s: %w", o.Target, start, err)
	}
	return recs, nil
}

func (o Options) client() (*gosnmp.GoSNMP, error) {
	host, port, err := splitTarget(o.Target)
	if err != nil {
		return nil, err
	}
	g := &gosnmp.GoSNMP{
		Target: host, Port: port, Community: o.Community, Timeout: o.Timeout, Retries: o.Retries,
		MaxRepetitions: o.MaxRepetitions, MaxOids: gosnmp.MaxOids, ContextName: o.ContextName,
	}
	if g.Timeout == 0 {
		g.Timeout = 5 * time.Second
	}
	if g.MaxRepetitions == 0 {
		g.MaxRepetitions = 25
	}
	switch o.Version {
	case "1":
		g.Version = gosnmp.Version1
	case "", "2c", "2":
		g.Version = gosnmp.Version2c
	case "3":
		g.Version = gosnmp.Version3
		if o.User == "" {
			return nil, errors.New("--v3-user is required with --protocol-version=3")
		}
		usm := &gosnmp.UsmSecurityParameters{UserName: o.User, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
		g.MsgFlags = gosnmp.NoAuthNoPriv
		if o.AuthKey != "" {
			usm.AuthenticationProtocol, usm.AuthenticationPassphrase = o.AuthProto, o.AuthKey
			if usm.AuthenticationProtocol == gosnmp.NoAuth || usm.AuthenticationProtocol == 0 {
				usm.AuthenticationProtocol = gosnmp.MD5 // snmpsim's default
			}
			g.MsgFlags = gosnmp.AuthNoPriv
		}
		if o.PrivKey != "" {
			if o.AuthKey == "" {
				return nil, errors.New("--v3-priv-key needs --v3-auth-key")
			}
			usm.PrivacyProtocol, usm.PrivacyPassphrase = o.PrivProto, o.PrivKey
			if usm.PrivacyProtocol == gosnmp.NoPriv || usm.PrivacyProtocol == 0 {
				usm.PrivacyProtocol = gosnmp.DES // snmpsim's default
			}
			g.MsgFlags = gosnmp.AuthPriv
		}
		g.SecurityModel = gosnmp.UserSecurityModel
		g.SecurityParameters = usm
	default:
		return nil, fmt.Errorf("--protocol-version: %q is not 1, 2c or 3", o.Version)
	}
	return g, nil
}

func splitTarget(t string) (string, uint16, error) {
	ap, err := netip.ParseAddrPort(t)
	if err == nil {
		return ap.Addr().String(), ap.Port(), nil
	}
	host, port, ok := strings.Cut(t, ":")
	if !ok {
		return t, 161, nil
	}
	var p uint16
	if _, err := fmt.Sscan(port, &p); err != nil || p == 0 {
		return "", 0, fmt.Errorf("--agent-udpv4-endpoint: bad port in %q", t)
	}
	return host, p, nil
}

// toRecord converts one variable; ok is false for exceptions (noSuchObject, endOfMibView).
func toRecord(pdu gosnmp.SnmpPDU) (snmprec.Record, bool, error) {
	oid, err := snmprec.ParseOID(strings.TrimPrefix(pdu.Name, "."))
	if err != nil {
		return snmprec.Record{}, false, fmt.Errorf("agent sent OID %q: %w", pdu.Name, err)
	}
	r := snmprec.Record{OID: oid}
	switch pdu.Type {
	case gosnmp.Integer:
		r.Tag, r.Value = snmprec.Integer, int64(gosnmp.ToBigInt(pdu.Value).Int64())
	case gosnmp.OctetString:
		b, _ := pdu.Value.([]byte)
		r.Tag, r.Value = snmprec.OctetString, append([]byte{}, b...)
	case gosnmp.Null:
		r.Tag = snmprec.Null
	case gosnmp.ObjectIdentifier:
		s, _ := pdu.Value.(string)
		v, err := snmprec.ParseOID(strings.TrimPrefix(s, "."))
		if err != nil {
			return r, false, fmt.Errorf("%s: OID value %q: %w", pdu.Name, s, err)
		}
		r.Tag, r.Value = snmprec.ObjectID, v
	case gosnmp.IPAddress:
		s, _ := pdu.Value.(string)
		a, err := netip.ParseAddr(s)
		if err != nil {
			return r, false, fmt.Errorf("%s: IpAddress %q: %w", pdu.Name, s, err)
		}
		r.Tag, r.Value = snmprec.IPAddress, a
	case gosnmp.Counter32:
		r.Tag, r.Value = snmprec.Counter32, gosnmp.ToBigInt(pdu.Value).Uint64()
	case gosnmp.Gauge32, gosnmp.Uinteger32:
		r.Tag, r.Value = snmprec.Gauge32, gosnmp.ToBigInt(pdu.Value).Uint64()
	case gosnmp.TimeTicks:
		r.Tag, r.Value = snmprec.TimeTicks, gosnmp.ToBigInt(pdu.Value).Uint64()
	case gosnmp.Counter64:
		r.Tag, r.Value = snmprec.Counter64, gosnmp.ToBigInt(pdu.Value).Uint64()
	case gosnmp.Opaque:
		b, _ := pdu.Value.([]byte)
		r.Tag, r.Value = snmprec.Opaque, append([]byte{}, b...)
	case gosnmp.OpaqueFloat:
		// gosnmp decodes an Opaque that wraps a float (RFC draft "opaque float", tag 9f78);
		// write its bytes back as the agent sent them.
		f, _ := pdu.Value.(float32)
		b := binary.BigEndian.AppendUint32([]byte{0x9f, 0x78, 4}, math.Float32bits(f))
		r.Tag, r.Value = snmprec.Opaque, b
	case gosnmp.OpaqueDouble:
		f, _ := pdu.Value.(float64)
		b := binary.BigEndian.AppendUint64([]byte{0x9f, 0x79, 8}, math.Float64bits(f))
		r.Tag, r.Value = snmprec.Opaque, b
	case gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		return r, false, nil
	default:
		return r, false, fmt.Errorf("%s: value type %v cannot be recorded", pdu.Name, pdu.Type)
	}
	return r, true, nil
}

// anonymiser replaces, deterministically within one recording (so a name used as a lookup
// stays the same everywhere): every string with a letter in it by "anon-" and 8 hex digits of
// its SHA-256, every IpAddress by one in 192.0.2.0/24 (TEST-NET-1), and every 6-byte binary
// string (a MAC address) by a locally administered one. Strings without letters (numbers,
// dates, versions) and the Keep prefixes are kept. Lengths of other binary strings are kept.
type anonymiser struct {
	on   bool
	keep []snmprec.OID
}

func newAnonymiser(o Options) *anonymiser {
	a := &anonymiser{on: o.Anonymise}
	for _, k := range o.Keep {
		if oid, err := snmprec.ParseOID(strings.TrimPrefix(k, ".")); err == nil {
			a.keep = append(a.keep, oid)
		}
	}
	return a
}

// DefaultKeep are kept when anonymising: sysDescr and sysObjectID say what the device is.
var DefaultKeep = []string{"1.3.6.1.2.1.1.1", "1.3.6.1.2.1.1.2"}

func (a *anonymiser) apply(r *snmprec.Record) {
	if !a.on {
		return
	}
	for _, k := range a.keep {
		if r.OID.HasPrefix(k) {
			return
		}
	}
	a.index(r)
	switch v := r.Value.(type) {
	case []byte:
		if len(v) == 6 && !printableText(v) {
			sum := sha256.Sum256(v)
			mac := append([]byte{0x02}, sum[:5]...) // locally administered, unicast
			r.Value = mac
			return
		}
		if !printableText(v) || !hasLetter(v) {
			return
		}
		sum := sha256.Sum256(v)
		r.Value = []byte("anon-" + hex.EncodeToString(sum[:4]))
	case netip.Addr:
		if v.IsLoopback() || v.IsUnspecified() {
			return
		}
		r.Value = fakeAddr(v)
	}
}

// addressIndexed are tables indexed by an IPv4 address (after the column arc and, for
// ipNetToMediaTable, the ifIndex): ipAddrTable, ipRouteTable, ipNetToMediaTable.
var addressIndexed = []struct {
	entry snmprec.OID
	skip  int // arcs between the column and the address
}{
	{snmprec.OID{1, 3, 6, 1, 2, 1, 4, 20, 1}, 0},
	{snmprec.OID{1, 3, 6, 1, 2, 1, 4, 21, 1}, 0},
	{snmprec.OID{1, 3, 6, 1, 2, 1, 4, 22, 1}, 1},
}

// index rewrites an address in the OID of the address-indexed tables the same way as values,
// so the tables stay joined.
func (a *anonymiser) index(r *snmprec.Record) {
	for _, t := range addressIndexed {
		at := len(t.entry) + 1 + t.skip
		if !r.OID.HasPrefix(t.entry) || len(r.OID) != at+4 {
			continue
		}
		var b [4]byte
		for i := range b {
			if r.OID[at+i] > 255 {
				return
			}
			b[i] = byte(r.OID[at+i])
		}
		addr := netip.AddrFrom4(b)
		if addr.IsLoopback() || addr.IsUnspecified() {
			return
		}
		f := fakeAddr(addr).As4()
		oid := slices.Clone(r.OID)
		for i := range f {
			oid[at+i] = uint32(f[i])
		}
		r.OID = oid
	}
}

func fakeAddr(v netip.Addr) netip.Addr {
	sum := sha256.Sum256(v.AsSlice())
	return netip.AddrFrom4([4]byte{192, 0, 2, 1 + sum[0]%254})
}

func printableText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c > 0x7e {
			return false
		}
	}
	return true
}

func hasLetter(b []byte) bool {
	for _, c := range string(b) {
		if unicode.IsLetter(c) {
			return true
		}
	}
	return false
}
