module shop/stack

go 1.26

require (
	shop/connect v0.0.0
	shop/sql v0.0.0
)

replace shop/sql => ../sql

replace shop/connect => ../connect
