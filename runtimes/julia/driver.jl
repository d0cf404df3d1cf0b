# retool's Julia driver: one fresh, pre-started interpreter per execution.
# It waits for the code on fd 3, runs it in Main with fds 0-2 as stdio,
# prints the value of a final expression (as the ReTool tool does), and
# exits 1 with the error and backtrace on stderr when the code throws.
code = read(fdio(3, true), String)
status = 0
try
    value = include_string(Main, code, "code")
    if value !== nothing
        println(value)
    end
catch err
    global status = 1
    Base.display_error(stderr, err, catch_backtrace())
end
flush(stdout)
flush(stderr)
exit(status)
