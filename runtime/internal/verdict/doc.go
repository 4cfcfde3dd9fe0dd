// Package verdict turns the run history into a promotion gate's answer: green when the last N
// runs (of a suite, or the specs of a label) after a time or a revision all passed; red when one
// of them failed; unknown, with the reason, when there are not enough runs yet or a harness
// error hides the answer. GET /api/verdict serves it and `wattson-runtime gate` polls it.
package verdict
