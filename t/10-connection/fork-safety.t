# t/10-connection/fork-safety.t
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use POSIX qw(_exit);

my $loop = IO::Async::Loop->new;

SKIP: {
    my $redis = eval {
        my $r = Future::IO::Redis->new(host => 'localhost', connect_timeout => 2);
        $loop->await($r->connect);
        $r;
    };
    skip "Redis not available: $@", 1 unless $redis;

    subtest 'connection tracks PID' => sub {
        ok($redis->{_pid}, 'PID tracked');
        is($redis->{_pid}, $$, 'PID matches current process');
    };

    subtest 'connection detects fork and reconnects' => sub {
        plan skip_all => 'fork() not supported on this platform'
            unless $^O ne 'MSWin32';

        # Store a value
        $loop->await($redis->set('fork:test', 'parent_value'));

        my $pipe_to_child;
        my $pipe_from_child;
        pipe($pipe_from_child, $pipe_to_child) or die "pipe: $!";

        my $pid = fork();
        die "fork failed: $!" unless defined $pid;

        if ($pid == 0) {
            # Child process
            close $pipe_from_child;

            # The redis connection should detect PID change
            my $child_loop = IO::Async::Loop->new;

            # This should auto-reconnect because PID changed
            my $result;
            eval {
                $result = $child_loop->await($redis->get('fork:test'));
            };

            if ($@) {
                print $pipe_to_child "ERROR: $@\n";
            }
            elsif ($result eq 'parent_value') {
                print $pipe_to_child "SUCCESS\n";
            }
            else {
                print $pipe_to_child "WRONG: $result\n";
            }

            close $pipe_to_child;
            _exit(0);
        }

        # Parent process
        close $pipe_to_child;

        # Wait for child
        waitpid($pid, 0);

        my $child_output = do { local $/; <$pipe_from_child> };
        close $pipe_from_child;

        like($child_output, qr/SUCCESS/, 'child got correct value after fork');
    };

    subtest 'pool handles fork correctly' => sub {
        plan skip_all => 'fork() not supported on this platform'
            unless $^O ne 'MSWin32';

        require Future::IO::Redis::Pool;

        my $pool = Future::IO::Redis::Pool->new(
            host => 'localhost',
            min  => 1,
            max  => 3,
        );

        # Get a connection
        my $conn1 = $loop->await($pool->acquire);
        $loop->await($conn1->set('fork:pool', 'pool_value'));
        $pool->release($conn1);

        my $pipe_to_child;
        my $pipe_from_child;
        pipe($pipe_from_child, $pipe_to_child) or die "pipe: $!";

        my $pid = fork();
        die "fork failed: $!" unless defined $pid;

        if ($pid == 0) {
            # Child process
            close $pipe_from_child;

            my $child_loop = IO::Async::Loop->new;

            # Pool should detect fork and create new connections
            my $result;
            eval {
                $result = $child_loop->await($pool->with(async sub {
                    my ($r) = @_;
                    await $r->get('fork:pool');
                }));
            };

            if ($@) {
                print $pipe_to_child "ERROR: $@\n";
            }
            elsif ($result eq 'pool_value') {
                print $pipe_to_child "SUCCESS\n";
            }
            else {
                print $pipe_to_child "WRONG: $result\n";
            }

            close $pipe_to_child;
            _exit(0);
        }

        # Parent
        close $pipe_to_child;
        waitpid($pid, 0);

        my $child_output = do { local $/; <$pipe_from_child> };
        close $pipe_from_child;

        like($child_output, qr/SUCCESS/, 'pool worked in child after fork');

        # Cleanup
        $loop->await($redis->del('fork:pool'));
    };

    subtest 'parent connection still works after fork' => sub {
        plan skip_all => 'fork() not supported on this platform'
            unless $^O ne 'MSWin32';

        my $pid = fork();
        die "fork failed: $!" unless defined $pid;

        if ($pid == 0) {
            # Child just exits
            _exit(0);
        }

        waitpid($pid, 0);

        # Parent connection should still work
        my $result = $loop->await($redis->ping);
        is($result, 'PONG', 'parent connection works after fork');
    };

    # Cleanup
    $loop->await($redis->del('fork:test'));
    $redis->disconnect;
}

done_testing;
