module shop/connect

go 1.26
