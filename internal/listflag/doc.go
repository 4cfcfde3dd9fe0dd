// Package listflag is the repeatable string flag every Wattson command uses (--mibs-dir,
// --data-dir, --specs.watch, ...): each occurrence appends one value.
package listflag
