module bumper.local/testbed/nodeimages

go 1.26.0
