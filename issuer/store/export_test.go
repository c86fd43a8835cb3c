package store

import "time"

// SpendGroupForTest runs one group of refreshes as the grouping does, all
// with the same times, and reports which were spent.
func (d *DB) SpendGroupForTest(ids []string, from []uint64, at, idle time.Time) ([]bool, error) {
	group := make([]*spendCall, len(ids))
	for i, id := range ids {
		group[i] = &spendCall{id: id, from: int64(from[i]), at: ms(at), idle: ms(idle)}
	}
	if err := d.spendGroup(group); err != nil {
		return nil, err
	}
	won := make([]bool, len(group))
	for i, c := range group {
		if c.err != nil {
			return nil, c.err
		}
		won[i] = c.won
	}
	return won, nil
}
