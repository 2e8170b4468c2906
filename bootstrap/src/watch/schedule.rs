//! Which item each tick reads: one request per tick, the spot notice every other tick.
//!
//! A spot notice gives two minutes, and AWS recommends checking every 5 s (see `items.rs`): with
//! the default 2 s interval it is read every 4 s, the other two every 8 s. An on-demand instance
//! gets no spot notice nor rebalance recommendation (both are for spot instances only), so it
//! reads the target lifecycle state alone.

use super::Item;
use crate::identity::Market;

pub struct Schedule {
    cycle: Vec<Item>,
    next: usize,
}

impl Schedule {
    pub fn for_market(market: Market) -> Schedule {
        let cycle = match market {
            Market::Spot => vec![
                Item::SpotAction,
                Item::TargetLifecycleState,
                Item::SpotAction,
                Item::Rebalance,
            ],
            Market::OnDemand => vec![Item::TargetLifecycleState],
        };
        Schedule { cycle, next: 0 }
    }

    /// The next item to read; `None` once every item is settled.
    pub fn next(&mut self) -> Option<Item> {
        if self.cycle.is_empty() {
            return None;
        }
        let item = self.cycle[self.next % self.cycle.len()];
        self.next = (self.next + 1) % self.cycle.len();
        Some(item)
    }

    /// `item` was seen and dealt with: its slots go.
    pub fn settle(&mut self, item: Item) {
        self.cycle.retain(|i| *i != item);
        self.next = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(s: &mut Schedule, n: usize) -> Vec<Item> {
        (0..n).filter_map(|_| s.next()).collect()
    }

    #[test]
    fn a_spot_instance_reads_its_notice_every_other_tick() {
        let mut s = Schedule::for_market(Market::Spot);
        let ticks = take(&mut s, 8);
        assert_eq!(ticks.iter().filter(|i| **i == Item::SpotAction).count(), 4);
        assert_eq!(ticks.iter().filter(|i| **i == Item::Rebalance).count(), 2);
        assert!(ticks.iter().step_by(2).all(|i| *i == Item::SpotAction));
    }

    #[test]
    fn a_settled_item_is_not_read_again() {
        let mut s = Schedule::for_market(Market::Spot);
        s.settle(Item::Rebalance);
        assert!(!take(&mut s, 8).contains(&Item::Rebalance));
        let mut s = Schedule::for_market(Market::OnDemand);
        assert_eq!(take(&mut s, 3), [Item::TargetLifecycleState; 3]);
        s.settle(Item::TargetLifecycleState);
        assert_eq!(s.next(), None);
    }
}
