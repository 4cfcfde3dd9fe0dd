package device

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wattson-dev/wattson/mocks/internal/snmprec"
)

// Store is the set of devices, keyed by community (v1/v2c) or context (v3).
// It is built once at start; only faults change afterwards.
type Store struct {
	seed    uint64
	start   time.Time
	clock   func() time.Time
	devices map[string]*Device
	names   []string
	tmpls   map[string]*Template
}

// Options configure a Store.
type Options struct {
	// Seed makes live values reproducible: the same seed, device name and
	// time give the same value.
	Seed uint64
	// Clock returns the current time; time.Now when nil. Tests pass their own.
	Clock func() time.Time
}

// NewStore returns an empty store whose clock starts now.
func NewStore(o Options) *Store {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Store{seed: o.Seed, clock: o.Clock, start: o.Clock(), devices: map[string]*Device{}, tmpls: map[string]*Template{}}
}

// elapsed returns seconds since the store started.
func (s *Store) elapsed() float64 { return s.clock().Sub(s.start).Seconds() }

// Elapsed returns the time since the store started.
func (s *Store) Elapsed() time.Duration { return s.clock().Sub(s.start) }

// LoadDir adds one device per data file under dir, named as snmpsim names
// them: the path relative to dir without extension, with "/" between
// folders (so a/b.snmprec serves community "a/b").
func (s *Store) LoadDir(dir string) error {
	var errs []error
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := filepath.Ext(path)
		if e.IsDir() || (ext != ".snmprec" && ext != ".snmpwalk") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(strings.TrimSuffix(rel, ext))
		if err := s.LoadFile(name, path); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read data dir: %w", err)
	}
	if len(errs) == 0 && len(s.devices) == 0 {
		return fmt.Errorf("data dir %s: no .snmprec or .snmpwalk files", dir)
	}
	return errors.Join(errs...)
}

// LoadFile adds a device named name serving the data file at path.
func (s *Store) LoadFile(name, path string) error {
	recs, err := snmprec.ReadFile(path)
	if err != nil {
		return err
	}
	t, err := NewTemplate(name, path, recs)
	if err != nil {
		return err
	}
	s.tmpls[name] = t
	defer func() { slices.Sort(s.names) }()
	return s.add(name, t)
}

// Expand adds count devices "NAME-1" … "NAME-count" sharing the template of
// the already loaded device name; each has its own seed and faults.
func (s *Store) Expand(name string, count int) error {
	t, ok := s.tmpls[name]
	if !ok {
		return fmt.Errorf("device template %q: no data file %s.snmprec or %s.snmpwalk loaded", name, name, name)
	}
	if count < 1 || count > 1_000_000 {
		return fmt.Errorf("device template %q: count %d out of range 1-1000000", name, count)
	}
	defer func() { slices.Sort(s.names) }()
	for i := 1; i <= count; i++ {
		if err := s.add(name+"-"+strconv.Itoa(i), t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) add(name string, t *Template) error {
	// gosnmp writes the community length in one byte; SNMP engines and
	// snmpsim keep names far shorter anyway.
	if len(name) == 0 || len(name) > 127 {
		return fmt.Errorf("device name %q: want 1-127 bytes", name)
	}
	if _, dup := s.devices[name]; dup {
		return fmt.Errorf("device %q defined twice", name)
	}
	s.devices[name] = newDevice(s, name, t)
	s.names = append(s.names, name)
	return nil
}

// Get returns the device serving community or context name.
func (s *Store) Get(name string) (*Device, bool) {
	d, ok := s.devices[name]
	return d, ok
}

// Names returns the device names, sorted. The slice must not be changed.
func (s *Store) Names() []string { return s.names }

// Len returns the number of devices.
func (s *Store) Len() int { return len(s.names) }
