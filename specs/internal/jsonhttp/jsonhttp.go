// Package jsonhttp is the one JSON-over-HTTP call the spec helpers' clients (Alertmanager, the
// simulator) share: a request with an optional JSON body, a bounded read, an error that carries
// the server's message, and a decode that keeps big integers exact.
package jsonhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// maxBody bounds what a response may hold.
const maxBody = 64 << 20

// Do sends in (when not nil) as JSON to base+path and decodes a 200 answer into out (when not
// nil). Numbers decode as json.Number where out holds `any`, so Counter64 values stay exact. A
// non-200 answer becomes an error with the server's {"error": ...} message, or its first bytes.
func Do(ctx context.Context, c *http.Client, method, base, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s %s: %s: %.200s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}
