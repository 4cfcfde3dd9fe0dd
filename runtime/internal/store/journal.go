package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/wattson-dev/wattson/runtime/internal/report"
)

// Journal keeps the runs not yet written to the database on disk, one file per run, so that a
// restart during an outage (SIGTERM, a crash, a rescheduled pod with its volume) loses none of
// them: Durable replays it at start. It is bounded in runs and bytes by its owner. A file is
// written to a temporary name, synced and renamed, so a torn write never replays half a run.
// Runs the database refuses for good are moved to the failed/ subfolder for a human to read.
type Journal struct {
	dir string

	mu    sync.Mutex
	seq   uint64
	sizes map[string]int64 // file name -> size, of the queued runs
}

// journalEntry is a run as written to the journal: the raw Ginkgo report is not part of a
// Run's JSON, so it is kept beside it.
type journalEntry struct {
	Run *report.Run `json:"run"`
	Raw []byte      `json:"raw,omitempty"`
}

// OpenJournal opens (creating) the journal in dir and returns the runs it holds, oldest first,
// each with the file name Remove takes. Files that do not parse are moved to failed/.
func OpenJournal(dir string) (*Journal, []JournalRun, error) {
	if err := os.MkdirAll(filepath.Join(dir, "failed"), 0o700); err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	j := &Journal{dir: dir, sizes: map[string]int64{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	var out []JournalRun
	var bad []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // a write cut short: its run was never acknowledged
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		var seq uint64
		if _, err := fmt.Sscanf(name, "%020d-", &seq); err != nil {
			continue
		}
		j.seq = max(j.seq, seq)
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("journal %s: %w", dir, err)
		}
		var je journalEntry
		if err := json.Unmarshal(b, &je); err != nil || je.Run == nil || je.Run.ID == "" {
			if err == nil {
				err = errors.New("no run ID")
			}
			bad = append(bad, fmt.Errorf("journal file %s: not a run: %w", name, err))
			_ = os.Rename(filepath.Join(dir, name), filepath.Join(dir, "failed", name))
			continue
		}
		je.Run.Raw = je.Raw
		j.sizes[name] = int64(len(b))
		out = append(out, JournalRun{Run: je.Run, File: name})
	}
	slices.SortFunc(out, func(a, b JournalRun) int { return strings.Compare(a.File, b.File) })
	return j, out, errors.Join(bad...)
}

// JournalRun is a run read back from the journal.
type JournalRun struct {
	Run  *report.Run
	File string
}

// Add writes run and returns its file name and size.
func (j *Journal) Add(run *report.Run) (string, int64, error) {
	b, err := json.Marshal(journalEntry{Run: run, Raw: run.Raw})
	if err != nil {
		return "", 0, fmt.Errorf("journal run %s: %w", run.ID, err)
	}
	j.mu.Lock()
	j.seq++
	name := fmt.Sprintf("%020d-%s.json", j.seq, safeName(run.ID))
	j.mu.Unlock()
	path := filepath.Join(j.dir, name)
	if err := writeSynced(path+".tmp", b); err != nil {
		return "", 0, fmt.Errorf("journal run %s: %w", run.ID, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return "", 0, fmt.Errorf("journal run %s: %w", run.ID, err)
	}
	j.mu.Lock()
	j.sizes[name] = int64(len(b))
	j.mu.Unlock()
	return name, int64(len(b)), nil
}

// Remove forgets a written (or dropped) run.
func (j *Journal) Remove(name string) error {
	j.mu.Lock()
	delete(j.sizes, name)
	j.mu.Unlock()
	if err := os.Remove(filepath.Join(j.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Fail moves a run the database refuses for good to failed/, where it is kept for a human.
func (j *Journal) Fail(name string) error {
	j.mu.Lock()
	delete(j.sizes, name)
	j.mu.Unlock()
	if err := os.Rename(filepath.Join(j.dir, name), filepath.Join(j.dir, "failed", name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Size is the bytes of the queued runs' files.
func (j *Journal) Size() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	var n int64
	for _, s := range j.sizes {
		n += s
	}
	return n
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func safeName(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, id)
}
