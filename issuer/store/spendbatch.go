package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lib/pq"
)

// Concurrent refreshes on Postgres are spent in groups: while a group's
// statement is out, the refreshes that arrive queue, and the next group
// takes every queued one (up to spendBatchMax) into one statement, one
// round trip and one commit. A lone refresh runs alone at once, with the
// single-row statement, so grouping adds no wait at low load; under load
// it divides the database's work per refresh (parse, plan, lock manager,
// commit and its WAL flush) by the group's size.
//
// Each row of a group is the same compare-and-swap as the single
// statement: it changes one session whose counter is still the presented
// one, and a row that fails its conditions changes nothing and returns
// nothing, whatever the others do; its refresh then takes the slow path,
// as after a failed single statement. A group names a session once: a
// second refresh of the same session waits for the next group. A group
// never waits for a row another transaction holds (see
// spendRefreshBatchSQL).
const (
	// spendBatchMax caps a group: 64 rows is one statement of a few
	// kilobytes.
	spendBatchMax = 64
	// spendBatchSlots is how many groups may be out at once: while one
	// waits for its commit, the next is gathered and sent.
	spendBatchSlots = 2
)

// spendRow is what SpendRefresh returns for one session, as stored.
type spendRow struct {
	userID, userAgent, ip, email                        string
	counter, rotated, created, idle, abs, reissued, uAt int64
	verified                                            bool
	roles                                               sql.NullString
}

// spendCall is one SpendRefresh waiting for its group.
type spendCall struct {
	id             string
	from, at, idle int64
	row            spendRow
	won            bool
	err            error
	finished       bool      // the result is set (under spendBatcher.mu)
	leading        bool      // handed a slot: it gathers the next group
	wake           chan bool // true: finished; false: lead
}

// errSpendAlone tells a call its group failed as a whole (a lost
// connection, a timeout): nothing of it was committed, and the call runs
// again on its own.
var errSpendAlone = errors.New("store: spend the refresh alone")

// spendBatcher gathers concurrent SpendRefresh calls into groups. It has
// no goroutine of its own: the call that finds a slot free runs groups
// until its own result is in, then hands the slot to the oldest waiting
// call, which goes on the same way.
type spendBatcher struct {
	mu      sync.Mutex
	queue   []*spendCall
	running int
	// run spends a group of distinct sessions, setting each call's result;
	// an error is the group's as a whole.
	run func([]*spendCall) error
	// groups counts the groups that ran without error, calls the calls in
	// them.
	groups, calls atomic.Uint64
}

// spend queues c and returns when its result is set.
func (b *spendBatcher) spend(c *spendCall) {
	c.wake = make(chan bool, 2)
	b.mu.Lock()
	b.queue = append(b.queue, c)
	if b.running >= spendBatchSlots {
		b.mu.Unlock()
		if <-c.wake {
			return
		}
		b.mu.Lock() // handed a slot
	} else {
		b.running++
	}
	for !c.finished {
		group := b.take()
		if len(group) == 0 {
			// c is in a group another call is running.
			b.release()
			b.mu.Unlock()
			for !<-c.wake {
			}
			return
		}
		b.mu.Unlock()
		err := b.runGroup(group)
		if err == nil {
			b.groups.Add(1)
			b.calls.Add(uint64(len(group)))
		}
		b.mu.Lock()
		for _, g := range group {
			if err != nil {
				g.won, g.err = false, errSpendAlone
			}
			g.finished = true
			if g != c {
				g.wake <- true
			}
		}
	}
	b.release()
	b.mu.Unlock()
}

// runGroup runs a group; a panic in it is the group's error, so that the
// calls waiting on it are not left waiting (each then runs alone).
func (b *spendBatcher) runGroup(group []*spendCall) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: spending a group of refreshes panicked: %v", p)
		}
	}()
	return b.run(group)
}

// take removes up to spendBatchMax queued calls for distinct sessions
// from the queue, oldest first; a call whose session is already in the
// group stays queued. Under b.mu.
func (b *spendBatcher) take() []*spendCall {
	if len(b.queue) == 0 {
		return nil
	}
	group := make([]*spendCall, 0, min(len(b.queue), spendBatchMax))
	seen := make(map[string]struct{}, cap(group))
	rest := b.queue[:0]
	for _, c := range b.queue {
		if _, dup := seen[c.id]; dup || len(group) == spendBatchMax {
			rest = append(rest, c)
			continue
		}
		seen[c.id] = struct{}{}
		group = append(group, c)
	}
	clear(b.queue[len(rest):])
	b.queue = rest
	return group
}

// release gives the caller's slot to the oldest queued call not already
// leading, or frees it. Under b.mu.
func (b *spendBatcher) release() {
	for _, c := range b.queue {
		if !c.leading {
			c.leading = true
			c.wake <- false
			return
		}
	}
	b.running--
}

// spendRefreshBatchSQL spends a group on Postgres: $1 the session ids, $2
// their counters, $3 each one's now, $4 each one's new idle expiry. The
// conditions and the returned columns are spendRefreshSQL's, row by row,
// with the session id first. The rows are locked first with SKIP LOCKED,
// and only those are changed: a group never waits for a row lock, so it
// can be part of no deadlock (whatever order its plan meets the rows in)
// and no slow transaction holds up the refreshes it carries. A session
// that another transaction holds (a racing refresh through another
// replica, a revocation) is left out, and its refresh takes the slow path,
// which reads the session and, if it must, waits for it alone.
const spendRefreshBatchSQL = `WITH v (id, ctr, at, idle) AS MATERIALIZED (
		  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])),
		locked AS MATERIALIZED (
		  SELECT s.id FROM sessions AS s JOIN v ON s.id = v.id
		  WHERE s.refresh_counter = v.ctr AND s.revoked_at IS NULL AND s.idle_expires_at > v.at AND s.absolute_expires_at > v.at
		  FOR NO KEY UPDATE OF s SKIP LOCKED)
		UPDATE sessions AS s
		SET refresh_counter = s.refresh_counter + 1, rotated_at = v.at, idle_expires_at = LEAST(v.idle, s.absolute_expires_at)
		FROM locked, v, users AS u
		WHERE s.id = locked.id AND v.id = s.id AND s.refresh_counter = v.ctr AND s.revoked_at IS NULL
		  AND s.idle_expires_at > v.at AND s.absolute_expires_at > v.at AND u.id = s.user_id AND u.disabled_at IS NULL
		RETURNING s.id, s.user_id, s.refresh_counter, s.rotated_at, s.created_at, s.idle_expires_at,
		  s.absolute_expires_at, s.user_agent, s.ip, s.reissued_counter,
		  u.email, u.created_at, u.email_verified_at IS NOT NULL,
		  (SELECT string_agg(r.role, ' ') FROM user_roles AS r WHERE r.user_id = s.user_id)`

// spendGroup runs a group: alone, with the single-row statement; else
// with spendRefreshBatchSQL.
func (d *DB) spendGroup(group []*spendCall) error {
	ctx, cancel := d.callContext(context.Background())
	defer cancel()
	if len(group) == 1 {
		c := group[0]
		c.row, c.won, c.err = d.spendOne(ctx, c.id, c.from, c.at, c.idle)
		return nil
	}
	st, err := d.prepared(ctx, &d.spendBatchStmt, spendRefreshBatchSQL)
	if err != nil {
		return err
	}
	ids := make([]string, len(group))
	from, at, idle := make([]int64, len(group)), make([]int64, len(group)), make([]int64, len(group))
	byID := make(map[string]*spendCall, len(group))
	for i, c := range group {
		ids[i], from[i], at[i], idle[i] = c.id, c.from, c.at, c.idle
		byID[c.id] = c
	}
	rows, err := st.QueryContext(ctx, pq.Array(ids), pq.Array(from), pq.Array(at), pq.Array(idle))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r spendRow
		if err := rows.Scan(&id, &r.userID, &r.counter, &r.rotated, &r.created, &r.idle, &r.abs, &r.userAgent, &r.ip,
			&r.reissued, &r.email, &r.uAt, &r.verified, &r.roles); err != nil {
			return err
		}
		if c := byID[id]; c != nil {
			c.row, c.won = r, true
		}
	}
	return rows.Err()
}

// SpendGroups reports how many statements have spent refreshes through
// SpendRefresh's groups on Postgres, and how many refreshes they were
// asked to spend (the difference is the round trips that grouping saved);
// a group that failed, and whose refreshes then ran alone, is in neither.
// Zeros on SQLite.
func (d *DB) SpendGroups() (statements, refreshes uint64) {
	if d.spends == nil {
		return 0, 0
	}
	return d.spends.groups.Load(), d.spends.calls.Load()
}
