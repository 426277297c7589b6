-- expand
-- The oldest order still PENDING, read every few seconds for the metric
-- shop_orders_pending_oldest_seconds: the first entry of this small index
-- (an order leaves it when it is paid or cancelled).
CREATE INDEX orders_pending_created_at ON orders (created_at) WHERE status = 'PENDING';
