module shop/gateway

go 1.26

require (
	shop/orders v0.0.0
	shop/payments v0.0.0
	shop/proto v0.0.0
	shop/stack v0.0.0
)

replace shop/proto => ../proto

replace shop/orders => ../orders

replace shop/payments => ../payments

replace shop/stack => ../stack
