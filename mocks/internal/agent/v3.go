package agent

import (
	"bytes"
	"time"

	"github.com/gosnmp/gosnmp"
)

// The counters SNMPv3 reports carry (RFC 3414 usmStats, RFC 3413
// snmpUnknownContexts), in the order of stat.
type stat int

const (
	statUnsupportedSecLevels stat = iota
	statNotInTimeWindows
	statUnknownUserNames
	statUnknownEngineIDs
	statWrongDigests
	statDecryptionErrors
	statUnknownContexts
	statCount
)

var statOIDs = [statCount]string{
	".1.3.6.1.6.3.15.1.1.1.0",
	".1.3.6.1.6.3.15.1.1.2.0",
	".1.3.6.1.6.3.15.1.1.3.0",
	".1.3.6.1.6.3.15.1.1.4.0",
	".1.3.6.1.6.3.15.1.1.5.0",
	".1.3.6.1.6.3.15.1.1.6.0",
	".1.3.6.1.6.3.12.1.5.0",
}

var statNames = [statCount]string{
	"unsupported_sec_level", "not_in_time_window", "unknown_user", "unknown_engine_id",
	"wrong_digest", "decryption_error", "unknown_context",
}

// timeWindow is RFC 3414's 150-second window.
const timeWindow = 150

// engineTime returns snmpEngineTime: seconds since the agent started.
func (a *Agent) engineTime() uint32 { return uint32(time.Since(a.start) / time.Second) }

// handleV3 runs RFC 3414's incoming-message checks in order, answering a
// failed check with the Report the RFC asks for, then serves the request.
func (w *worker) handleV3(msg []byte, h *v3Header) ([]byte, time.Duration) {
	a := w.a
	m := a.cfg.Metrics
	if h.secModel != int64(gosnmp.UserSecurityModel) {
		m.drop("unknown_security_model")
		return nil, 0
	}
	level := gosnmp.SnmpV3MsgFlags(h.flags) & gosnmp.AuthPriv
	if level == gosnmp.AuthPriv&^gosnmp.AuthNoPriv { // priv without auth
		m.drop("malformed")
		return nil, 0
	}
	reportable := h.flags&byte(gosnmp.Reportable) != 0
	report := func(s stat, u *usmUser, authed bool) ([]byte, time.Duration) {
		n := a.stats[s].Add(1)
		if !reportable {
			m.drop(statNames[s])
			return nil, 0
		}
		m.report(statNames[s])
		return a.report(msg, h, s, n, u, authed), 0
	}
	if !bytes.Equal(h.engineID, a.engineID) {
		// Includes discovery: an empty engine ID and user (RFC 3414 4).
		return report(statUnknownEngineIDs, nil, false)
	}
	u := a.users[string(h.user)]
	if u == nil {
		return report(statUnknownUserNames, nil, false)
	}
	if level != u.level() {
		// The user's level is also its minimum: snmpsim and snmpd's
		// "rouser NAME LEVEL" refuse weaker requests too.
		return report(statUnsupportedSecLevels, nil, false)
	}
	if level&gosnmp.AuthNoPriv != 0 {
		if !u.verifyDigest(msg, h) {
			return report(statWrongDigests, nil, false)
		}
		now := int64(a.engineTime())
		if h.boots != int64(a.cfg.EngineBoots) || h.time < now-timeWindow || h.time > now+timeWindow {
			// Authenticated, so the client can trust our boots and time.
			return report(statNotInTimeWindows, u, true)
		}
	}
	dec := w.v3[u.Name]
	req, err := dec.SnmpDecodePacket(msg)
	if err != nil {
		if level == gosnmp.AuthPriv {
			return report(statDecryptionErrors, nil, false)
		}
		m.drop("malformed")
		return nil, 0
	}
	ctxName := req.ContextName
	if ctxName == "" {
		ctxName = a.cfg.ContextDefault
	}
	dev, ok := a.cfg.Store.Get(ctxName)
	if !ok {
		return report(statUnknownContexts, u, level != gosnmp.NoAuthNoPriv)
	}
	limit := min(a.cfg.MaxMsgSize, int(h.maxSize))
	resp := &w.resp
	delay, ok := a.serve(req, resp, dev, limit-a.v3Envelope(u, req.ContextName))
	if !ok {
		return nil, 0
	}
	a.wrapV3(resp, h, u, level, req.ContextName)
	out, err := w.marshal(resp, limit)
	if err != nil {
		m.drop("marshal")
		a.log.Error("marshal v3 response", "device", dev.Name, "err", err)
		return nil, 0
	}
	return out, delay
}

// v3Envelope bounds the bytes of a v3 response around its varbinds.
func (a *Agent) v3Envelope(u *usmUser, ctxName string) int {
	return 64 + // message, header data and PDU framing
		2*len(a.engineID) + len(u.Name) + u.macLen + 10 + // USM parameters and contextEngineID
		len(ctxName) + 16 // contextName, DES padding, encrypted OCTET STRING header
}

// wrapV3 turns resp into a v3 message for user u at the given level.
func (a *Agent) wrapV3(resp *gosnmp.SnmpPacket, h *v3Header, u *usmUser, level gosnmp.SnmpV3MsgFlags, ctxName string) {
	resp.Version = gosnmp.Version3
	resp.MsgFlags = level
	resp.SecurityModel = gosnmp.UserSecurityModel
	resp.MsgID = uint32(h.msgID)
	resp.MsgMaxSize = uint32(a.cfg.MaxMsgSize)
	resp.ContextEngineID = string(a.engineID)
	resp.ContextName = ctxName
	sp := &gosnmp.UsmSecurityParameters{
		AuthoritativeEngineID:    string(a.engineID),
		AuthoritativeEngineBoots: a.cfg.EngineBoots,
		AuthoritativeEngineTime:  a.engineTime(),
		UserName:                 string(h.user),
		AuthenticationProtocol:   gosnmp.NoAuth,
		PrivacyProtocol:          gosnmp.NoPriv,
	}
	if u != nil && level&gosnmp.AuthNoPriv != 0 {
		sp.AuthenticationProtocol, sp.SecretKey = u.AuthProto, u.authKey
	}
	if u != nil && level == gosnmp.AuthPriv {
		sp.PrivacyProtocol, sp.PrivacyKey = u.PrivProto, u.privKey
		sp.PrivacyParameters = u.nextSalt(a.cfg.EngineBoots)
	}
	resp.SecurityParameters = sp
}

// report builds a Report PDU carrying counter s. authed reports are sent
// authNoPriv with u's key (RFC 3414 3.2.7 for notInTimeWindow), the others
// noAuthNoPriv. The request-id is echoed when the request was readable.
func (a *Agent) report(msg []byte, h *v3Header, s stat, n uint32, u *usmUser, authed bool) []byte {
	resp := &gosnmp.SnmpPacket{
		PDUType:   gosnmp.Report,
		Variables: []gosnmp.SnmpPDU{{Name: statOIDs[s], Type: gosnmp.Counter32, Value: n}},
	}
	var ctxName string
	if h.flags&byte(gosnmp.AuthPriv) == 0 {
		// Plain text: read the request-id so the client can match the report.
		if req, err := (&gosnmp.GoSNMP{Version: gosnmp.Version2c}).SnmpDecodePacket(bytes.Clone(msg)); err == nil {
			resp.RequestID = req.RequestID
			ctxName = req.ContextName
		}
	}
	level := gosnmp.NoAuthNoPriv
	if authed && u != nil {
		level = gosnmp.AuthNoPriv
	}
	a.wrapV3(resp, h, u, level, ctxName)
	out, err := resp.MarshalMsg()
	if err != nil {
		a.log.Error("marshal report", "err", err)
		return nil
	}
	return out
}
