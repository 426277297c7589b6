module shop/orders

go 1.26

require (
	shop/cdc v0.0.0
	shop/proto v0.0.0
	shop/sql v0.0.0
	shop/stack v0.0.0
)

replace shop/proto => ../proto

replace shop/sql => ../sql

replace shop/cdc => ../cdc

replace shop/stack => ../stack
