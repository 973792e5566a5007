# SELECT, CLIENT SETNAME and AUTH sent as commands outlive the connection:
# after a reconnect the client is still on the selected database, under the
# name and user it switched to (regression: a reconnect quietly went back to
# the configured database, so writes landed in the wrong one). A rejected
# SELECT changes nothing; disconnect + connect keeps the change too.
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;
use FIORServer;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $auth = FIORTest::server('auth');

# Kills $redis's connection from outside and waits until it is back.
sub kill_and_wait {
    my ( $redis, $server, @login ) = @_;
    my $killer = Future::IO::Redis->new( host => $server->{host}, port => $server->{port}, @login );
    my $id     = $redis->client_id->get;
    my $gone   = 0;
    my $back   = 0;
    local $redis->{on_disconnect} = sub { $gone++ };
    local $redis->{on_connect}    = sub { $back++ };
    is( $killer->client_kill( 'ID', $id )->get, 1, 'connection killed' );
    my $deadline = time + 20;
    $loop->delay_future( after => 0.02 )->get until $gone && $back || time > $deadline;
    ok( $gone && $back, 'dropped and reconnected' );
    isnt( $redis->client_id->get, $id, 'on a new connection' );
    $killer->disconnect;
}

subtest 'SELECT and CLIENT SETNAME survive a reconnect' => sub {
    my $key   = FIORTest::unique_key('replay');
    my $redis = Future::IO::Redis->new( %$srv, reconnect => 1, reconnect_delay => 0.01 );
    is( $redis->select(5)->get,                  'OK', 'select 5' );
    is( $redis->client_setname('replay-1')->get, 'OK', 'client_setname' );
    is( $redis->set( $key, 'in five' )->get,     'OK', 'written in db 5' );
    is( $redis->{database},                      5,    'the option follows' );
    is( $redis->{client_name},                   'replay-1' );
    like( dies { $redis->select(1_000_000)->get }, qr/DB index/i, 'a bad database is refused' );
    is( $redis->{database}, 5, 'and changes nothing' );

    kill_and_wait( $redis, $srv );
    is( $redis->get($key)->get,                          'in five',  'still reading db 5' );
    is( $redis->client_getname->get,                     'replay-1', 'still named' );
    is( $redis->command( 'SELECT', 0 )->get,             'OK',       'select 0 through command' );
    is( $redis->command( 'CLIENT', 'SETNAME', '' )->get, 'OK',       'name cleared' );
    kill_and_wait( $redis, $srv );
    is( $redis->get($key)->get,      undef, 'back on db 0 after the next reconnect' );
    is( $redis->client_getname->get, undef, 'and unnamed' );

    $redis->select(5)->get;
    $redis->disconnect;
    $redis->connect->get;
    is( $redis->get($key)->get, 'in five', 'disconnect + connect keeps the selected database' );
    $redis->del($key)->get;
    $redis->disconnect;
};

subtest 'AUTH survives a reconnect' => sub {
    my $redis = Future::IO::Redis->new(
        host            => $auth->{host},
        port            => $auth->{port},
        password        => $auth->{password},
        reconnect       => 1,
        reconnect_delay => 0.01
    );
    is( $redis->acl_whoami->get, 'default', 'logged in as default' );
    is( $redis->auth( $auth->{acl_user}, $auth->{acl_password} )->get,
        'OK', 'auth as the ACL user' );
    is( $redis->acl_whoami->get, $auth->{acl_user}, 'switched' );
    kill_and_wait( $redis, $auth, password => $auth->{password} );
    is( $redis->acl_whoami->get, $auth->{acl_user}, 'still the ACL user after the reconnect' );
    like( dies { $redis->auth( $auth->{acl_user}, 'wrong' )->get },
        qr/WRONGPASS/, 'a wrong password is refused' );
    is( $redis->{password}, $auth->{acl_password}, 'and changes nothing' );
    $redis->disconnect;
};

subtest 'a binary password, as an option and through AUTH' => sub {
    my $admin = Future::IO::Redis->new(
        host     => $auth->{host},
        port     => $auth->{port},
        password => $auth->{password}
    );
    my $user     = "fior-bin-$$";
    my $password = "p\xff\x00\r\nw";
    is( $admin->acl_setuser( $user, 'on', ">$password", '~*', '+@all' )->get, 'OK',
        'user created' );
    my $redis = Future::IO::Redis->new(
        host            => $auth->{host},
        port            => $auth->{port},
        username        => $user,
        password        => $password,
        reconnect       => 1,
        reconnect_delay => 0.01
    );
    is( $redis->acl_whoami->get, $user, 'connected with the binary password' );
    is( $redis->auth( $auth->{acl_user}, $auth->{acl_password} )->get, 'OK', 'switch user' );
    is( $redis->auth( $user,             $password )->get, 'OK', 'and back, through AUTH' );
    kill_and_wait( $redis, $auth, password => $auth->{password} );
    is( $redis->acl_whoami->get, $user, 'the reconnect logs in with the binary password' );
    $redis->disconnect;
    $redis->connect->get;
    is( $redis->acl_whoami->get, $user, 'so does a fresh connect' );
    $redis->disconnect;
    $admin->acl_deluser($user)->get;
};

# Regressions: a QUEUED reply counted as accepted, so a SELECT in a
# discarded transaction moved later reconnects to its database, and one
# that failed inside EXEC made every reconnect fail; then one that ran
# inside EXEC was forgotten.
subtest 'inside MULTI: kept when EXEC ran it, dropped when discarded' => sub {
    my $redis = Future::IO::Redis->new( %$srv, reconnect => 1, reconnect_delay => 0.01 );
    my $key   = FIORTest::unique_key('multi');
    $redis->set( $key, 'db0' )->get;
    $redis->multi->get;
    is( $redis->select(3)->get, 'QUEUED', 'SELECT queued' );
    is( $redis->discard->get,   'OK',     'discarded' );
    is( $redis->{database},     0,        'nothing remembered' );

    $redis->multi->get;
    $redis->select(2)->get;
    $redis->client_setname('in-exec')->get;
    is( $redis->exec->get,     [ 'OK', 'OK' ], 'SELECT and CLIENT SETNAME ran in EXEC' );
    is( $redis->{database},    2,              'the database is remembered' );
    is( $redis->{client_name}, 'in-exec',      'and the name' );
    $redis->set( $key, 'db2' )->get;
    kill_and_wait( $redis, $srv );
    is( $redis->get($key)->get,      'db2',     'the reconnect is on database 2' );
    is( $redis->client_getname->get, 'in-exec', 'under the name' );
    $redis->del($key)->get;
    $redis->select(0)->get;
    is( $redis->get($key)->get, 'db0', 'database 0 untouched' );
    $redis->del($key)->get;
    $redis->disconnect;
};

subtest 'in pipelines and multi(): the same rules' => sub {
    my $redis = Future::IO::Redis->new( %$srv, reconnect => 1, reconnect_delay => 0.01 );
    my $key   = FIORTest::unique_key('batched');
    my $p     = $redis->pipeline;
    $p->select(4)->client_setname('piped')->set( $key, 'db4' );
    is( $p->execute->get,   [ 'OK', 'OK', 'OK' ], 'SELECT and SETNAME in a pipeline' );
    is( $redis->{database}, 4,                    'the database follows, before execute resolves' );
    is( $redis->{client_name}, 'piped',           'and the name' );
    kill_and_wait( $redis, $srv );
    is( $redis->get($key)->get,      'db4',   'the reconnect is on database 4' );
    is( $redis->client_getname->get, 'piped', 'under the name' );

    my $bad = $redis->pipeline->select(1_000_000)->execute->get;
    isa_ok( $bad->[0], ['Future::IO::Redis::Error::Redis'], 'a refused SELECT in a pipeline' );
    is( $redis->{database}, 4, 'changes nothing' );

    my $exec = $redis->multi( sub { $_[0]->select(6)->set( $key, 'db6' ); return } )->get;
    is( $exec,              [ 'OK', 'OK' ], 'SELECT inside multi()' );
    is( $redis->{database}, 6,              'kept once EXEC ran it' );
    kill_and_wait( $redis, $srv );
    is( $redis->get($key)->get, 'db6', 'the reconnect is on database 6' );
    $redis->del($key)->get;
    $redis->select(4)->get;
    $redis->del($key)->get;
    $redis->disconnect;
};

subtest 'a failure inside EXEC resets the connection' => sub {
    for my $reconnect ( 1, 0 ) {
        my $dropped = 0;
        my $redis   = Future::IO::Redis->new(
            %$srv,
            reconnect       => $reconnect,
            reconnect_delay => 0.01,
            on_disconnect   => sub { $dropped++ }
        );
        $redis->multi->get;
        $redis->select(1_000_000)->get;
        my $exec = $redis->exec->get;
        isa_ok(
            $exec->[0],
            ['Future::IO::Redis::Error::Redis'],
            'the bad SELECT failed inside EXEC'
        );
        my $deadline = time + 10;
        $loop->delay_future( after => 0.02 )->get until $dropped || time > $deadline;
        is( $dropped, 1, "reconnect => $reconnect: reset (which command failed is unknown)" );
        is( $redis->{database}, 0,      'nothing remembered' );
        is( $redis->ping->get,  'PONG', 'the next command works, on a fresh connection' );
        is( $redis->command( 'CLIENT', 'INFO' )->get =~ /\bdb=(\d+)/ ? $1 : undef,
            0, 'on database 0' );
        $redis->disconnect;
    }
};

subtest 'words are compared as the server compares them' => sub {
    my $redis = Future::IO::Redis->new(%$srv);
    my $f     = $redis->command( "SUBSCRIBE\0x", 'ch' );
    ok( $f->is_failed, 'SUBSCRIBE with a NUL suffix is refused like SUBSCRIBE' );
    $f = $redis->command( 'client', "reply\0x", 'OFF' );
    ok( $f->is_failed, 'so is CLIENT REPLY' );
    is( $redis->ping->get, 'PONG', 'the client is fine' );
    $redis->disconnect;
};

subtest 'a cancelled SELECT still counts once the server took it' => sub {
    my $redis = Future::IO::Redis->new( %$srv, reconnect => 1, reconnect_delay => 0.01 );
    my $key   = FIORTest::unique_key('cancel');
    $redis->select(4)->get;
    $redis->set( $key, 'db4' )->get;
    $redis->select(0)->get;
    my $select = $redis->select(4);
    $select->cancel;
    is( $redis->get($key)->get, 'db4', 'the server did switch' );
    is( $redis->{database},     4,     'and so did the option' );
    $redis->disconnect;
    $redis->connect->get;
    is( $redis->get($key)->get, 'db4', 'a fresh connect goes back to database 4' );
    $redis->del($key)->get;
    $redis->disconnect;
};

# A SELECT that times out may still run: the connection is reset rather
# than left on a database nobody knows.
subtest 'a SELECT that times out resets the connection' => sub {
    my $paused = FIORServer->new;
    my $redis  = Future::IO::Redis->new(
        host            => '127.0.0.1',
        port            => $paused->port,
        request_timeout => 0.3,
        reconnect       => 1,
        reconnect_delay => 0.01
    );
    my $key = FIORTest::unique_key('timeout');
    $redis->set( $key, 'db0' )->get;
    my $dropped = 0;
    $redis->{on_disconnect} = sub { $dropped++ };
    my $pauser = Future::IO::Redis->new( host => '127.0.0.1', port => $paused->port );
    $pauser->client_pause( 1000, 'ALL' )->get;
    my $select = $redis->select(2);
    $loop->await($select);
    isa_ok( $select->failure, ['Future::IO::Redis::Error::Timeout'], 'SELECT timed out' );
    my $deadline = time + 10;
    $loop->delay_future( after => 0.02 )->get until $dropped || time > $deadline;
    is( $dropped, 1, 'the connection was reset' );

    # (Commands time out until the pause ends.)
    my $got;
    $deadline = time + 10;
    $got      = eval { $redis->get($key)->get } until defined $got || time > $deadline;
    is( $got,               'db0', 'the new connection is on the configured database' );
    is( $redis->{database}, 0,     'as the option says' );
    $redis->disconnect;
    $paused->stop;
};

done_testing;
