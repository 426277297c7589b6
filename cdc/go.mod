module shop/cdc

go 1.26

require shop/sql v0.0.0

replace shop/sql => ../sql
