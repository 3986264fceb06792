echo café
