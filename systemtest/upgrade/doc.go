// Package upgrade holds the mixed-version test: the services of the
// compatibility baseline (the commit of main that compat/BASELINE names,
// built once per commit from a git worktree) and of the current tree run
// side by side on the current schema, as during a rolling update, and the
// test asserts that every order still ends PAID or CANCELLED, the books
// balance and no event becomes a dead letter.
//
// The package has no non-test code. docs/upgrades.md says what it runs, how
// to run it alone and what it costs.
package upgrade
