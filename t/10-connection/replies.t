# Replies of every shape, RESP2 and RESP3, reach Perl intact — and replies
# that are not valid UTF-8 text or are deeply nested never cost the
# connection. (Regressions: with redis-rs's parser a binary key named in an
# error message dropped the connection and every command in flight; RESP3
# doubles lost digits; nesting past 100 levels was fatal.)
use Test2::V0;
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Scalar::Util qw(looks_like_number);
use lib 't/lib';
use FIORTest;

my $loop = IO::Async::Loop->new;
my $srv  = FIORTest::server('plain');
my $key  = FIORTest::unique_key('replies');

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $binary = "q:\xe9\x00\xff";

        subtest 'an error naming a binary key' => sub {
            my $bad = $redis->command( 'XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', "$key:$binary",
                '>' );
            my $ping = $redis->ping;
            my $incr = $redis->command( 'INCR', "$key:n" );
            $loop->await( Future->wait_all( $bad, $ping, $incr ) );
            isa_ok( $bad->failure, 'Future::IO::Redis::Error::Redis' );
            is( $bad->failure->type, 'NOGROUP', 'with its code' );
            is( $ping->get,          'PONG',    'the command beside it is fine' );
            is( $incr->get,          1,         'and so is the one after' );
            ok( $redis->is_connected, 'still connected' );
            $redis->del("$key:n")->get;
        };

        subtest 'an unknown command with binary arguments' => sub {
            my $f = $redis->command( 'NOSUCHCMD', "caf\xe9" );
            $loop->await($f);
            like( $f->failure->message, qr/unknown command/, 'a server error' );
            is( $redis->ping->get, 'PONG', 'connection unharmed' );
        };

        subtest 'binary status and error replies from a script' => sub {
            is( $redis->command( 'EVAL', "return {ok='st\\233tus'}", 0 )->get,
                "st\xe9tus", 'status reply: exact bytes' );
            my $f = $redis->command( 'EVAL', "return {err='BAD caf\\233'}", 0 );
            $loop->await($f);
            like( $f->failure->message, qr/^BAD caf/, 'error reply' );
            is( $redis->command( 'EVAL', "return {1, {err='IN caf\\233'}}", 0 )->get->[1]->type,
                'IN', 'an error inside an array stays an object in its slot' );
        };

        subtest 'deep nesting' => sub {
            my $deep
                = $redis->command( 'EVAL', 'local t = 1 for i = 1, 600 do t = {t} end return t',
                0 );
            my $v = $deep->get;
            my $n = 0;
            ( $v, $n ) = ( $v->[0], $n + 1 ) while ref $v;
            is( [ $n, $v ],        [ 600, 1 ], '600 levels arrive whole' );
            is( $redis->ping->get, 'PONG',     'connection unharmed' );
        };

        # DEBUG PROTOCOL answers in RESP3 only.
        subtest 'DEBUG PROTOCOL types' => sub {
            my %want = (
                string   => 'Hello World',
                integer  => 12345,
                bignum   => '1234567999999999999999999999999999999',
                null     => undef,
                array    => [ 0, 1, 2 ],
                set      => [ 0, 1, 2 ],
                attrib   => 'Some real reply following the attribute',
                push     => 'Some real reply following the push reply',
                verbatim => "This is a verbatim\nstring",
                true     => 1,
                false    => 0,
                map      => { 0 => 0, 1 => 1, 2 => 0 },
            );
            for my $type ( sort keys %want ) {
                is( $redis->command( 'DEBUG', 'PROTOCOL', $type )->get, $want{$type}, $type );
            }
            my $double = $redis->command( 'DEBUG', 'PROTOCOL', 'double' )->get;
            is( $double, '3.141', 'double' );
            ok( looks_like_number($double), 'a double is a number too' );
            }
            if $protocol == 3;

        subtest 'doubles are exact' => sub {
            $redis->command( 'ZADD', "$key:z", '0.30000000000000004', 'a', '12345678901234568',
                'b' )->get;
            my $a = $redis->command( 'ZSCORE', "$key:z", 'a' )->get;
            is( "$a",   '0.30000000000000004', 'all the digits the server sent' );
            is( $a + 0, 0.1 + 0.2,             'and the same number' );
            is( $redis->command( 'ZSCORE', "$key:z", 'b' )->get, '12345678901234568', 'large' );
            $redis->del("$key:z")->get;
        };
        $redis->disconnect;
    };
}
done_testing;
