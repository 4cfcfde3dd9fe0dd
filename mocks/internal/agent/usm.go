package agent

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
	"sync/atomic"

	"github.com/gosnmp/gosnmp"
)

// User is an SNMPv3 USM user as snmpsim's --v3-user/--v3-auth-*/--v3-priv-*
// flags define it.
type User struct {
	Name      string
	AuthProto gosnmp.SnmpV3AuthProtocol // gosnmp.NoAuth when unset
	AuthKey   string
	PrivProto gosnmp.SnmpV3PrivProtocol // gosnmp.NoPriv when unset
	PrivKey   string
}

// ParseAuthProto reads an authentication protocol name as snmpsim spells it.
func ParseAuthProto(s string) (gosnmp.SnmpV3AuthProtocol, error) {
	switch strings.ToUpper(s) {
	case "", "NONE":
		return gosnmp.NoAuth, nil
	case "MD5":
		return gosnmp.MD5, nil
	case "SHA", "SHA1":
		return gosnmp.SHA, nil
	case "SHA224":
		return gosnmp.SHA224, nil
	case "SHA256":
		return gosnmp.SHA256, nil
	case "SHA384":
		return gosnmp.SHA384, nil
	case "SHA512":
		return gosnmp.SHA512, nil
	}
	return 0, fmt.Errorf("unknown auth protocol %q (want MD5, SHA, SHA224, SHA256, SHA384 or SHA512)", s)
}

// ParsePrivProto reads a privacy protocol name. AES192 and AES256 use the
// Blumenthal key extension (as net-snmp 5.9 and pysnmp/snmpsim do, checked
// against snmpget -x AES-256); AES192C and
// AES256C the Reeder one that Cisco and net-snmp use.
func ParsePrivProto(s string) (gosnmp.SnmpV3PrivProtocol, error) {
	switch strings.ToUpper(s) {
	case "", "NONE":
		return gosnmp.NoPriv, nil
	case "DES":
		return gosnmp.DES, nil
	case "AES", "AES128":
		return gosnmp.AES, nil
	case "AES192":
		return gosnmp.AES192, nil
	case "AES256":
		return gosnmp.AES256, nil
	case "AES192C":
		return gosnmp.AES192C, nil
	case "AES256C":
		return gosnmp.AES256C, nil
	}
	return 0, fmt.Errorf("unknown priv protocol %q (want DES, AES, AES192, AES256, AES192C or AES256C)", s)
}

// normalize maps unset (zero) protocols to gosnmp's NoAuth and NoPriv.
func (u User) normalize() User {
	if u.AuthProto == 0 {
		u.AuthProto = gosnmp.NoAuth
	}
	if u.PrivProto == 0 {
		u.PrivProto = gosnmp.NoPriv
	}
	return u
}

// Validate checks a user the way the flags must be checked at start.
func (u User) Validate() error {
	u = u.normalize()
	switch {
	case u.Name == "" || len(u.Name) > 32:
		return fmt.Errorf("v3 user %q: name must be 1-32 bytes", u.Name)
	case u.AuthProto != gosnmp.NoAuth && len(u.AuthKey) < 8:
		return fmt.Errorf("v3 user %q: --v3-auth-key must be at least 8 characters", u.Name)
	case u.PrivProto != gosnmp.NoPriv && u.AuthProto == gosnmp.NoAuth:
		return fmt.Errorf("v3 user %q: privacy needs authentication (set --v3-auth-proto)", u.Name)
	case u.PrivProto != gosnmp.NoPriv && len(u.PrivKey) < 8:
		return fmt.Errorf("v3 user %q: --v3-priv-key must be at least 8 characters", u.Name)
	}
	return nil
}

// level returns the user's security level as msgFlags bits.
func (u User) level() gosnmp.SnmpV3MsgFlags {
	switch {
	case u.PrivProto != gosnmp.NoPriv:
		return gosnmp.AuthPriv
	case u.AuthProto != gosnmp.NoAuth:
		return gosnmp.AuthNoPriv
	}
	return gosnmp.NoAuthNoPriv
}

// usmUser is a user with keys localised to this engine.
type usmUser struct {
	User
	authKey, privKey []byte
	macLen           int
	// salt counts the privacy salts this engine sends, per RFC 3826 3.1.1.1.
	salt atomic.Uint64
}

func newUSMUser(u User, engineID []byte) (*usmUser, error) {
	u = u.normalize()
	if err := u.Validate(); err != nil {
		return nil, err
	}
	sp := &gosnmp.UsmSecurityParameters{
		UserName:                 u.Name,
		AuthoritativeEngineID:    string(engineID),
		AuthenticationProtocol:   u.AuthProto,
		AuthenticationPassphrase: u.AuthKey,
		PrivacyProtocol:          u.PrivProto,
		PrivacyPassphrase:        u.PrivKey,
	}
	if err := sp.InitSecurityKeys(); err != nil {
		return nil, fmt.Errorf("v3 user %q: localise keys: %w", u.Name, err)
	}
	uu := &usmUser{User: u, authKey: sp.SecretKey, privKey: sp.PrivacyKey, macLen: macLen(u.AuthProto)}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	uu.salt.Store(binary.BigEndian.Uint64(seed[:]))
	return uu, nil
}

// macLen is the truncated HMAC length of RFC 3414 and RFC 7860.
func macLen(p gosnmp.SnmpV3AuthProtocol) int {
	switch p {
	case gosnmp.MD5, gosnmp.SHA:
		return 12
	case gosnmp.SHA224:
		return 16
	case gosnmp.SHA256:
		return 24
	case gosnmp.SHA384:
		return 32
	case gosnmp.SHA512:
		return 48
	}
	return 0
}

func hashFunc(p gosnmp.SnmpV3AuthProtocol) func() hash.Hash {
	switch p {
	case gosnmp.MD5:
		return md5.New
	case gosnmp.SHA:
		return sha1.New
	case gosnmp.SHA224:
		return sha256.New224
	case gosnmp.SHA256:
		return sha256.New
	case gosnmp.SHA384:
		return sha512.New384
	}
	return sha512.New
}

// verifyDigest checks msgAuthenticationParameters. It zeroes the MAC field
// in msg in place (the digest is computed over the message with it zeroed,
// and gosnmp's decoder expects it zeroed too).
func (u *usmUser) verifyDigest(msg []byte, h *v3Header) bool {
	// gosnmp's decoder blanks the MAC assuming a short-form two-byte header.
	if h.authEnd-h.authStart != u.macLen || h.authStart < 2 || msg[h.authStart-1] != byte(u.macLen) {
		return false
	}
	got := make([]byte, u.macLen)
	copy(got, msg[h.authStart:h.authEnd])
	clear(msg[h.authStart:h.authEnd])
	m := hmac.New(hashFunc(u.AuthProto), u.authKey)
	m.Write(msg)
	return subtle.ConstantTimeCompare(m.Sum(nil)[:u.macLen], got) == 1
}

// nextSalt returns the msgPrivacyParameters for one outgoing message.
func (u *usmUser) nextSalt(boots uint32) []byte {
	n := u.salt.Add(1)
	salt := make([]byte, 8)
	if u.PrivProto == gosnmp.DES {
		binary.BigEndian.PutUint32(salt, boots)
		binary.BigEndian.PutUint32(salt[4:], uint32(n))
		return salt
	}
	binary.BigEndian.PutUint64(salt, n)
	return salt
}
